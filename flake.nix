# authpolicy for Nix: the package, the NixOS module security.authpolicy, and their checks (see nix/README.md).
{
  description = "authpolicy: one readable authentication policy per PAM service";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

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
