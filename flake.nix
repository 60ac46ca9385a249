# authpolicy for Nix: the package, the NixOS module security.authpolicy, and their checks (see nix/README.md).
{
  description = "authpolicy: one readable authentication policy per PAM service";

  # Pinned by flake.lock (the last nixos-23.11 commit); `nix flake update` moves it.
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-23.11";

  outputs =
    { self, nixpkgs }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      packages = forAllSystems (pkgs: {
        default = pkgs.callPackage ./nix/package.nix { };
      });

      overlays.default = final: _prev: {
        authpolicy = final.callPackage ./nix/package.nix { };
      };

      nixosModules.default = ./nix/module.nix;

      checks = forAllSystems (
        pkgs:
        import ./nix/checks.nix {
          inherit pkgs nixpkgs;
          authpolicyModule = self.nixosModules.default;
        }
      );
    };
}
