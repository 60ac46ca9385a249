# The flake's checks: the package, the generated PAM stacks of the example scenarios (policies/), a broken policy failing the build, and the VM test.
{
  pkgs,
  nixpkgs,
  authpolicyModule,
}:
let
  inherit (pkgs) lib;

  # A NixOS system with the module and some configuration, evaluated but not booted.
  evalSystem =
    extra:
    nixpkgs.lib.nixosSystem {
      modules = [
        authpolicyModule
        {
          nixpkgs.hostPlatform = pkgs.stdenv.hostPlatform.system;
          boot.isContainer = true;
          system.stateVersion = lib.trivial.release;
        }
        extra
      ];
    };

  scenarios = evalSystem {
    services.fprintd.enable = true;
    security.pam.u2f.enable = true;
    security.pam.services.login.enableGnomeKeyring = true;
    security.pam.services.su.requireWheel = true;
    services.openssh = {
      enable = true;
      settings.PasswordAuthentication = false;
    };
    security.authpolicy = {
      enable = true;
      u2f = {
        authfile = "/etc/authpolicy/u2f_keys";
        origin = "pam://scenarios";
      };
      totp.secrets = "/etc/authpolicy/totp/%u";
      policies = {
        login = "auth password && (fingerprint || u2f)\n";
        sudo = "auth fingerprint || u2f\n";
        su = "auth password && (fingerprint || u2f)\n";
        sshd = ''
          set trusted = { 10.0.0.0/8, 192.168.0.0/16, fd00::/8 }
          auth password && totp unless rhost in trusted
        '';
        polkit-1 = "auth u2f || password\n";
      };
    };
  };
  pamFile = system: service: system.config.environment.etc."pam.d/${service}".source;
  modulePath = system: "${system.config.security.authpolicy.package}/lib/security/pam_policy.so";

  # nixpkgs' rules that a policy's end of the stack would leave unrun: failDelay is moved in
  # front of the policy, homed's pam_systemd_home copied after it.
  failDelayHomed = evalSystem {
    services.homed.enable = true;
    security.pam.services.login.failDelay.enable = true;
    security.authpolicy = {
      enable = true;
      policies.login = "auth password\n";
    };
  };

  # Two modules giving one service different policies: the module system's error for conflicting
  # definitions, which names both files (never the two texts run together as one policy).
  definedTwice = evalSystem {
    imports = [
      { security.authpolicy.policies.sudo = "auth password\n"; }
      { security.authpolicy.policies.sudo = "auth u2f\n"; }
    ];
    security.authpolicy.enable = true;
  };

  broken = evalSystem {
    security.authpolicy = {
      enable = true;
      policies.sudo = "auth passwrd || u2f\n";
    };
  };
in
{
  package = pkgs.callPackage ./package.nix { };

  # The component test suites that run in the build sandbox (engine, tpm on swtpm, totp, u2f, audit).
  package-tests = pkgs.callPackage ./package.nix { runTests = true; };

  # The real nixpkgs output for the scenarios: pam_policy.so first (after the guards) with an
  # authoritative control, gnome-keyring's copy right after it in login, wheel still before it
  # in su, and every policy accepted by the checker.
  pam-stack =
    pkgs.runCommand "authpolicy-pam-stack"
      {
        policies = scenarios.config.security.authpolicy.checkedPolicies;
      }
      ''
        lint="${pkgs.runtimeShell} ${./check-pam-stack.sh} ${modulePath scenarios}"
        $lint ${
          lib.concatMapStringsSep " " (pamFile scenarios) [
            "login"
            "sudo"
            "su"
            "sshd"
            "polkit-1"
          ]
        }
        grep -A1 '^auth .*pam_policy.so' ${pamFile scenarios "login"} | grep -q 'optional .*pam_gnome_keyring.so'
        # pam_wheel anywhere before the policy line: nixpkgs orders other guards (pam_faillock)
        # between them, and the lint above already allows only guards there.
        awk '/^auth .*pam_wheel\.so/ { wheel = 1 } /^auth .*pam_policy\.so/ { exit !wheel }' ${pamFile scenarios "su"}
        grep -q 'include "common.pol"' "$policies/sudo.pol"
        grep -qx 'factor u2f { authfile = "/etc/authpolicy/u2f_keys"; origin = "pam://scenarios" }' "$policies/common.pol"
        grep -qx 'factor fingerprint { module = "${scenarios.config.services.fprintd.package}/lib/security/pam_fprintd.so" }' "$policies/common.pol"
        touch "$out"
      '';

  pam-stack-faildelay-homed =
    pkgs.runCommand "authpolicy-pam-stack-faildelay-homed" { }
      ''
        ${pkgs.runtimeShell} ${./check-pam-stack.sh} ${modulePath failDelayHomed} ${pamFile failDelayHomed "login"}
        awk '/^auth .*pam_faildelay\.so/ { delay = 1 } /^auth .*pam_policy\.so/ { exit !delay }' ${pamFile failDelayHomed "login"}
        grep -A3 '^auth .*pam_policy.so' ${pamFile failDelayHomed "login"} | grep -q 'optional .*pam_systemd_home.so'
        touch "$out"
      '';

  policy-defined-twice-rejected =
    assert !(builtins.tryEval (builtins.deepSeq definedTwice.config.security.authpolicy.policies.sudo true)).success;
    pkgs.runCommand "authpolicy-policy-defined-twice-rejected" { } "touch $out";

  # A policy with an error never reaches /etc: the derivation holding the policies fails.
  broken-policy-rejected =
    let
      failure = pkgs.testers.testBuildFailure broken.config.security.authpolicy.checkedPolicies;
    in
    pkgs.runCommand "authpolicy-broken-policy-rejected" { } ''
      grep -q 'REJECTED' ${failure}/testBuildFailure.log
      touch "$out"
    '';

  vm = pkgs.testers.runNixOSTest (import ./vm-test.nix { inherit authpolicyModule; });
}
