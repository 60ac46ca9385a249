# The NixOS module security.authpolicy: policies in /etc/authpolicy, pam_policy.so in each service's PAM stack.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.security.authpolicy;
  policyLib = import ./lib.nix;

  modulePath = "${cfg.package}/lib/security/pam_policy.so";
  pamPackage = config.security.pam.package or pkgs.pam;

  # Policy texts as given; a file is a Nix path value (./sudo.pol), copied with the flake. A string
  # is always policy text: reading "/etc/x.pol" at evaluation time would depend on the machine that
  # evaluates (impure, and refused by pure flake evaluation), so such a string is an assertion.
  # A relative one ("./sudo.pol", "policies/sudo.pol") is relative to nothing once it is a string:
  # a single word is never policy text (every policy has `auth EXPR`), so it is an assertion too.
  isFileName = p: builtins.isPath p;
  isOneWord = p: builtins.match "[^[:space:]]+[[:space:]]*" p != null;
  looksLikeFileName =
    p: !builtins.isPath p && (lib.hasPrefix "/" p && !lib.hasInfix "\n" p || isOneWord p);
  policyTexts = lib.mapAttrs (
    _: policy: if isFileName policy then builtins.readFile policy else policy
  ) managedPolicies;

  renderPath = p: if p == null then null else "${p}";

  commonText = policyLib.commonPolicy {
    audit = {
      inherit (cfg.audit) db required journal;
      retention = if cfg.audit.retention == null then null else { duration = cfg.audit.retention; };
    };
    geoip = {
      country = renderPath cfg.geoip.country;
      asn = renderPath cfg.geoip.asn;
    };
    tpm = {
      inherit (cfg.tpm) tcti;
      owner_auth_file = cfg.tpm.ownerAuthFile;
    };
    factors = {
      u2f = {
        inherit (cfg.u2f) authfile origin;
      };
      totp.secrets = cfg.totp.secrets;
      fingerprint.module = cfg.fingerprintModule;
    };
  };
  withCommon = commonText != null;

  installedTexts = lib.mapAttrs (
    _: text: policyLib.composePolicy { inherit text withCommon; }
  ) policyTexts;

  # Every policy, checked by `authpolicy check` while the system is built: a broken policy fails
  # the build here and is never installed.
  checkedPolicies =
    pkgs.runCommand "authpolicy-policies" { }
      (
        ''
          mkdir -p "$out"
        ''
        + lib.optionalString withCommon ''
          cp ${pkgs.writeText "common.pol" commonText} "$out/common.pol"
        ''
        + lib.concatStrings (
          lib.mapAttrsToList (service: text: ''
            cp ${pkgs.writeText "authpolicy-policy" text} "$out"/${lib.escapeShellArg "${service}.pol"}
          '') installedTexts
        )
        + lib.optionalString (installedTexts != { }) ''
          ${pkgs.runtimeShell} ${./check-policies.sh} ${lib.optionalString cfg.strictCheck "--strict"} \
            ${cfg.package}/bin/authpolicy \
            ${lib.concatMapStringsSep " " (service: ''"$out"/${lib.escapeShellArg "${service}.pol"}'') (lib.attrNames installedTexts)}
        ''
      );

  # Root-owned read-only copies, not symlinks into the store: pam_policy.so refuses policy files
  # it cannot prove root-owned and unwritable by others.
  etcFile = name: {
    source = "${checkedPolicies}/${name}";
    mode = "0444";
    user = "root";
    group = "root";
  };

  pinUsed =
    lib.any (policyLib.usesFactor "pin") (lib.attrValues policyTexts)
    || cfg.tpm.tcti != null
    || cfg.tpm.ownerAuthFile != null;

  # Modules that unlock something with the password the policy leaves in PAM_AUTHTOK, per
  # service: whether nixpkgs enables it there, and the rule to run right after the policy.
  captureRules =
    service:
    let
      svc = config.security.pam.services.${service};
      zfs = config.security.pam.zfs or { };
    in
    {
      gnome_keyring = {
        enable = svc.enableGnomeKeyring or false;
        modulePath = "${pkgs.gnome-keyring}/lib/security/pam_gnome_keyring.so";
        settings = { };
      };
      kwallet = {
        enable = svc.kwallet.enable or false;
        modulePath = "${svc.kwallet.package or pkgs.kdePackages.kwallet-pam}/lib/security/pam_kwallet5.so";
        settings = { };
      };
      gnupg = {
        enable = svc.gnupg.enable or false;
        modulePath = "${pkgs.pam_gnupg}/lib/security/pam_gnupg.so";
        settings.store-only = svc.gnupg.storeOnly or false;
      };
      mount = {
        enable = svc.pamMount or false;
        modulePath = "${pkgs.pam_mount}/lib/security/pam_mount.so";
        settings.disable_interactive = true;
      };
      ecryptfs = {
        enable = config.security.pam.enableEcryptfs or false;
        modulePath = "${pkgs.ecryptfs}/lib/security/pam_ecryptfs.so";
        settings.unwrap = true;
      };
      fscrypt = {
        enable = config.security.pam.enableFscrypt or false;
        modulePath = "${pkgs.fscrypt-experimental}/lib/security/pam_fscrypt.so";
        settings = { };
      };
      zfs_key = {
        enable = svc.zfs or false;
        modulePath = "${config.boot.zfs.package}/lib/security/pam_zfs_key.so";
        settings = {
          homes = zfs.homes or "rpool/home";
          mount_recursively = zfs.mountRecursively or false;
        };
      };
      systemd_home = {
        enable = config.services.homed.enable or false;
        modulePath = "${config.systemd.package or pkgs.systemd}/lib/security/pam_systemd_home.so";
        settings = { };
      };
      intune = {
        enable = config.services.intune.enable or false;
        modulePath = "${pkgs.intune-portal}/lib/security/pam_intune.so";
        settings = { };
      };
    };

  # Where this module's rules go in one service. Orders are computed from the service's other
  # rules, never constants: nixpkgs' own orders may change between releases.
  layoutFor =
    service:
    let
      authRules = config.security.pam.services.${service}.rules.auth;
      others = builtins.removeAttrs authRules (
        policyLib.ownAuthRuleNames ++ policyLib.guardRuleNames ++ policyLib.moveBeforeNames
      );
      captures = lib.filterAttrs (_: c: c.enable) (captureRules service);
    in
    policyLib.authLayout {
      decidingOrders = map (r: r.order) (lib.filter (r: r.enable) (lib.attrValues others));
      captures = lib.attrNames captures;
    };

  # The rules this module adds to one service.
  serviceRules =
    service:
    let
      svc = config.security.pam.services.${service};
      layout = layoutFor service;
      accountOthers = builtins.removeAttrs svc.rules.account [ policyLib.policyRuleName ];
      settings = {
        policy = "/etc/authpolicy/${service}.pol";
        missing = "fail";
        debug = cfg.debug;
      };
    in
    {
      rules.auth = {
        ${policyLib.policyRuleName} = {
          order = layout.policyOrder;
          control = layout.policyControl;
          inherit modulePath settings;
        };
        ${policyLib.doneRuleName} = {
          enable = layout.doneEnabled;
          order = layout.doneOrder;
          control = layout.doneControl;
          modulePath = "${pamPackage}/lib/security/pam_permit.so";
        };
      }
      // lib.mapAttrs' (
        name: capture:
        lib.nameValuePair (policyLib.captureRuleName name) {
          inherit (capture) enable modulePath settings;
          order = layout.captureOrder name;
          control = "optional";
        }
      ) (captureRules service)
      # failDelay: moved in front of the policy (nixpkgs puts it among the rules the policy's
      # [default=die] ends the stack before); only its order changes.
      // lib.genAttrs (lib.filter (name: svc.rules.auth ? ${name}) policyLib.moveBeforeNames) (name: {
        order = lib.mkForce (layout.moveBeforeOrder name);
      });

      rules.account.${policyLib.policyRuleName} = {
        order = policyLib.accountOrder (
          map (r: r.order) (lib.filter (r: r.enable) (lib.attrValues accountOthers))
        );
        control = "required";
        inherit modulePath settings;
      };
    };

  # Guards (rootok, wheel, faillock) that would end up after the policy and never run.
  misplacedGuards =
    service:
    let
      authRules = config.security.pam.services.${service}.rules.auth;
      inherit (layoutFor service) policyOrder;
    in
    lib.filter (
      name: authRules ? ${name} && authRules.${name}.enable && authRules.${name}.order >= policyOrder
    ) policyLib.guardRuleNames;

  pamTextUse =
    service:
    let
      text = config.security.pam.services.${service}.text or null;
    in
    policyLib.pamTextUse modulePath (if text == null then "" else text);

  # Only valid service names are turned into files and PAM services; the others fail an assertion.
  managedPolicies = lib.filterAttrs (service: _: policyLib.validServiceName service) cfg.policies;

  sshdPasswordAuthentication =
    lib.attrByPath [ "services" "openssh" "settings" "PasswordAuthentication" ] false config;
  sshdEnabled = lib.attrByPath [ "services" "openssh" "enable" ] false config;

  settingPath = lib.types.nullOr (lib.types.strMatching "/[^\n\r\"]*");
in
{
  options.security.authpolicy = {
    enable = lib.mkEnableOption "authentication policies through pam_policy.so (authpolicy)";

    package = lib.mkOption {
      type = lib.types.package;
      default = pkgs.callPackage ./package.nix { };
      defaultText = lib.literalExpression "pkgs.callPackage ./package.nix { }";
      description = "The authpolicy package providing pam_policy.so, the authpolicy command and the PIN helper.";
    };

    policies = lib.mkOption {
      # A path value is a file; types.path alone would also take the string "/etc/x.pol". Text is
      # `str`, not `lines`: two modules defining one service's policy differently are an error
      # naming both definitions, never two policies run together as one.
      type = lib.types.attrsOf (lib.types.either (lib.types.addCheck lib.types.path builtins.isPath) lib.types.str);
      default = { };
      example = lib.literalExpression ''
        {
          sudo = "auth fingerprint || u2f\n";
          sshd = ./sshd.pol;
        }
      '';
      description = ''
        The policy of each PAM service, as text or as a file. Each becomes
        {file}`/etc/authpolicy/<service>.pol` (a root-owned read-only copy) and puts
        pam_policy.so first in that service's auth and account stacks. Every policy is checked
        with `authpolicy check` while the system is built. A service's policy is defined once:
        two different definitions are an error naming both (they are never joined), and a file
        name given as a string (absolute or relative) is an assertion; write a path.
      '';
    };

    checkedPolicies = lib.mkOption {
      type = lib.types.package;
      internal = true;
      readOnly = true;
      description = "The derivation holding the checked policy files installed in /etc/authpolicy.";
    };

    strictCheck = lib.mkOption {
      type = lib.types.bool;
      default = false;
      description = "Fail the build on checker warnings too (`authpolicy check --strict`).";
    };

    debug = lib.mkOption {
      type = lib.types.bool;
      default = false;
      description = "Pass `debug` to pam_policy.so (more detail in the system log; never secrets).";
    };

    geoip = {
      country = lib.mkOption {
        type = lib.types.nullOr lib.types.path;
        default = null;
        example = "/var/lib/GeoIP/GeoLite2-Country.mmdb";
        description = "Country database (.mmdb) for `rhost.country` conditions.";
      };
      asn = lib.mkOption {
        type = lib.types.nullOr lib.types.path;
        default = null;
        example = "/var/lib/GeoIP/GeoLite2-ASN.mmdb";
        description = "AS number database (.mmdb) for `rhost.asn` conditions.";
      };
    };

    audit = {
      db = lib.mkOption {
        type = settingPath;
        default = null;
        example = "/var/lib/authpolicy/audit.db";
        description = ''
          The sqlite audit log. When it is under {file}`/var/lib/authpolicy`, that folder is
          created root-only (0700); elsewhere its folder is yours to create. Decisions of
          policies that never read the log wait in {file}`<db>-spool` until the next reader
          (`authpolicy audit`, `authpolicy audit flush`) moves them into it; {file}`<db>-tally/`
          holds what `failures()` and `recent()` read at login, derived from the log.
        '';
      };
      required = lib.mkOption {
        type = lib.types.nullOr lib.types.bool;
        default = null;
        description = ''
          Deny when a decision cannot be written to the audit log. Note that programs that do
          not run as root (screen lockers) cannot write a root-only log.
        '';
      };
      retention = lib.mkOption {
        type = lib.types.nullOr (lib.types.strMatching "[0-9]+[smhd]");
        default = null;
        example = "90d";
        description = "How long audit records are kept.";
      };
      journal = lib.mkOption {
        type = lib.types.nullOr (lib.types.strMatching "(/[^\n\r\"]*)?");
        default = null;
        example = "";
        description = ''
          journald's native socket: each decision is also sent there as one structured entry
          (`MESSAGE_ID=ffb6b6402a884c488c638c6fcd5905a7`, `AUTHPOLICY_*` fields) when journald
          listens. The package's default is {file}`/run/systemd/journal/socket`; `""` sends none.
        '';
      };
    };

    tpm = {
      tcti = lib.mkOption {
        type = lib.types.nullOr (lib.types.strMatching "[^\n\r\"]*");
        default = null;
        example = "device:/dev/tpmrm0";
        description = "TCTI of the TPM holding PINs (the package's default is `device:/dev/tpmrm0`).";
      };
      ownerAuthFile = lib.mkOption {
        type = settingPath;
        default = null;
        example = "/etc/authpolicy/tpm-owner";
        description = "Root-only file with the TPM owner authorisation. Never a store path.";
      };
    };

    u2f.authfile = lib.mkOption {
      type = settingPath;
      default = null;
      example = "/etc/authpolicy/u2f_keys";
      description = "Security key registrations (pam_u2f authfile format) for the `u2f` factor.";
    };

    u2f.origin = lib.mkOption {
      type = lib.types.nullOr (lib.types.strMatching "[^\n\r\"]+");
      default = null;
      example = "pam://laptop";
      description = ''
        FIDO2 relying party of the `u2f` factor. Without it keys are bound to
        `pam://<hostname>`, and renaming the host breaks every enrolled key (the checker warns).
      '';
    };

    totp.secrets = lib.mkOption {
      type = settingPath;
      default = null;
      example = "/etc/authpolicy/totp/%u";
      description = "Where the `totp` factor finds each user's secret; `%u` is the user name.";
    };

    fingerprintModule = lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default =
        if config.services.fprintd.enable or false then
          "${config.services.fprintd.package}/lib/security/pam_fprintd.so"
        else
          null;
      defaultText = lib.literalExpression ''
        if config.services.fprintd.enable
        then "''${config.services.fprintd.package}/lib/security/pam_fprintd.so" else null
      '';
      description = ''
        The module behind the `fingerprint` factor, written to common.pol as
        `factor fingerprint { module = … }`. NixOS has no shared PAM module folder holding
        pam_fprintd.so, so the bare name would not be found.
      '';
    };
  };

  config = lib.mkIf cfg.enable (
    lib.mkMerge [
      {
        assertions =
          lib.mapAttrsToList (service: _: {
            assertion = policyLib.validServiceName service;
            message = "security.authpolicy.policies.\"${service}\": a PAM service name cannot contain '/' or start with '.'.";
          }) cfg.policies
          ++ lib.concatLists (
            lib.mapAttrsToList (
              service: _:
              let
                use = pamTextUse service;
                guards = misplacedGuards service;
              in
              [
                {
                  assertion = use.auth && use.account;
                  message = ''
                    security.authpolicy manages the PAM service "${service}", but the generated
                    /etc/pam.d/${service} has no ${lib.optionalString (!use.auth) "auth "}${lib.optionalString (!use.account) "account "}line with
                    ${modulePath}. Most likely security.pam.services.${service}.text is set, which
                    replaces all rules: remove it, or add the pam_policy.so lines yourself.
                  '';
                }
                {
                  assertion = !use.weakAuth;
                  message = ''
                    /etc/pam.d/${service} runs pam_policy.so as "sufficient" or "optional": then
                    other auth lines can let people in when the policy denies. Use an authoritative
                    control such as [success=done default=die].
                  '';
                }
                {
                  assertion = guards == [ ];
                  message = ''
                    security.pam.services.${service}.rules.auth: ${lib.concatStringsSep ", " guards}
                    would be ordered after pam_policy.so and never run. Order them before the
                    first rule that authenticates.
                  '';
                }
              ]
            ) managedPolicies
          )
          ++ lib.mapAttrsToList (service: policy: {
            assertion = !looksLikeFileName policy;
            message = ''
              security.authpolicy.policies.${service} = "${policy}" names a file as a string: an absolute
              one would be read from whichever machine evaluates the configuration, a relative one is
              relative to nothing. Write it as a path (policies.${service} = ./${service}.pol;, relative
              to the .nix file) or give the policy text itself.
            '';
          }) managedPolicies
          ++ [
            {
              assertion =
                cfg.tpm.ownerAuthFile == null || !lib.hasPrefix builtins.storeDir cfg.tpm.ownerAuthFile;
              message = "security.authpolicy.tpm.ownerAuthFile must not be in the world-readable Nix store.";
            }
          ];

        warnings =
          lib.optional
            (cfg.policies ? sshd && sshdEnabled && sshdPasswordAuthentication)
            ''
              security.authpolicy.policies.sshd is set while services.openssh.settings.PasswordAuthentication
              is on. sshd's password method answers every hidden prompt with the password, so the
              policy's PIN or code prompts receive the password (and may spend PIN attempts). Turn
              PasswordAuthentication off; keyboard-interactive still asks for the password through PAM.
            ''
          ++ lib.optional
            (
              cfg.fingerprintModule == null
              && lib.any (policyLib.usesFactor "fingerprint") (lib.attrValues policyTexts)
            )
            ''
              A policy in security.authpolicy.policies uses the fingerprint factor, but
              services.fprintd is not enabled and security.authpolicy.fingerprintModule is null:
              the fingerprint factor will be unavailable.
            '';

        security.authpolicy.checkedPolicies = checkedPolicies;

        environment.systemPackages = [ cfg.package ];

        environment.etc =
          lib.mapAttrs' (
            service: _: lib.nameValuePair "authpolicy/${service}.pol" (etcFile "${service}.pol")
          ) managedPolicies
          // lib.optionalAttrs withCommon { "authpolicy/common.pol" = etcFile "common.pol"; };

        security.pam.services = lib.mapAttrs (service: _: serviceRules service) managedPolicies;
      }

      (lib.mkIf (cfg.audit.db != null && dirOf cfg.audit.db == "/var/lib/authpolicy") {
        systemd.tmpfiles.rules = [ "d /var/lib/authpolicy 0700 root root -" ];
      })

      # The PIN factor: processes that are not root (screen lockers) verify through the helper,
      # which is setgid tss and may open /dev/tpmrm0; nothing else gets the TPM.
      (lib.mkIf pinUsed {
        users.groups.tss = { };
        security.wrappers.authpolicy-pin-helper = {
          source = "${cfg.package}/libexec/authpolicy/pin-helper";
          owner = "root";
          group = "tss";
          setuid = false;
          setgid = true;
          permissions = "u+rx,g+x,o+x";
        };
        services.udev.extraRules = ''
          KERNEL=="tpmrm[0-9]*", SUBSYSTEM=="tpmrm", GROUP="tss", MODE="0660"
        '';
      })
    ]
  );
}
