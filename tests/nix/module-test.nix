# Calls nix/module.nix's config branch with hand-made configurations and the stub lib; evaluates to the failing cases.
# Run: nix-instantiate --store dummy:// --readonly-mode --eval --strict --json tests/nix/module-test.nix
#
# This is not a NixOS evaluation (no module system, no nixpkgs): `config` is a fixed input shaped
# like what nixpkgs would compute, and the module's answer is read back. It catches mistakes in
# module.nix's own logic; the flake's checks evaluate the same module against real nixpkgs.
let
  lib = import ./stub-lib.nix;
  policyLib = import ../../nix/lib.nix;
  inherit (builtins)
    attrNames
    filter
    isAttrs
    isList
    foldl'
    ;

  store = "/nix/store/00000000000000000000000000000000";
  drv = name: {
    outPath = "${store}-${name}";
    inherit name;
  };
  pkgs = {
    callPackage = _: _: drv "authpolicy-from-callPackage";
    # The command script is kept so the cases can read it.
    runCommand =
      name: _env: script:
      drv name // { inherit script; };
    # The text shows through in the command script that copies it.
    writeText = _name: text: { outPath = "TEXT<<${text}>>"; };
    runtimeShell = "/stub/bash";
    pam = drv "linux-pam";
    gnome-keyring = drv "gnome-keyring";
    pam_gnupg = drv "pam_gnupg";
    pam_mount = drv "pam_mount";
    ecryptfs = drv "ecryptfs";
    fscrypt-experimental = drv "fscrypt";
    kdePackages.kwallet-pam = drv "kwallet-pam";
    intune-portal = drv "intune-portal";
    systemd = drv "systemd";
  };

  rule = order: enable: { inherit order enable; };
  loginAuth = {
    rootok = rule 10200 false;
    wheel = rule 10300 false;
    u2f = rule 10900 true;
    fprintd = rule 11400 true;
    unix-early = rule 11700 true;
    gnome_keyring = rule 12200 true;
    unix = rule 12900 true;
    deny = rule 13700 true;
  };
  suAuth = loginAuth // {
    rootok = rule 10200 true;
    wheel = rule 13000 true; # moved behind the factor rules by some other module
    unix-early = rule 11700 false;
    gnome_keyring = rule 12200 false;
  };
  account = {
    unix = rule 10900 true;
  };
  pamPath = "${store}-authpolicy/lib/security/pam_policy.so";
  managedText = ''
    account required ${pamPath} missing=fail policy=/etc/authpolicy/x.pol # authpolicy (order 10850)
    auth [success=done default=die] ${pamPath} missing=fail policy=/etc/authpolicy/x.pol # authpolicy (order 10850)
  '';
  service = auth: text: {
    enableGnomeKeyring = auth.gnome_keyring.enable;
    kwallet.enable = false;
    gnupg.enable = false;
    pamMount = false;
    zfs = false;
    rules = { inherit auth account; };
    inherit text;
  };

  baseCfg = {
    enable = true;
    package = drv "authpolicy";
    policies = { };
    strictCheck = false;
    debug = false;
    geoip = {
      country = null;
      asn = null;
    };
    audit = {
      db = null;
      required = null;
      retention = null;
      journal = null;
    };
    tpm = {
      tcti = null;
      ownerAuthFile = null;
    };
    u2f = {
      authfile = null;
      origin = null;
    };
    totp.secrets = null;
    fingerprintModule = null;
  };

  # What the module contributes for one configuration, with mkIf/mkMerge resolved.
  evaluate =
    {
      cfg,
      services,
      sshdPasswordAuthentication ? false,
      homed ? false,
      intune ? false,
    }:
    let
      config = {
        security.authpolicy = baseCfg // cfg;
        security.pam = {
          inherit services;
          package = drv "linux-pam";
          enableEcryptfs = false;
          enableFscrypt = false;
          zfs.homes = "rpool/home";
        };
        services.openssh = {
          enable = true;
          settings.PasswordAuthentication = sshdPasswordAuthentication;
        };
        services.fprintd.enable = false;
        services.homed.enable = homed;
        services.intune.enable = intune;
        systemd.package = drv "systemd";
        boot.zfs.package = drv "zfs";
      };
      merge =
        a: b:
        if isAttrs a && isAttrs b then
          a // builtins.mapAttrs (n: v: if a ? ${n} then merge a.${n} v else v) b
        else if isList a && isList b then
          a ++ b
        else
          b;
      resolve =
        v:
        if isAttrs v && (v._type or null) == "if" then
          (if v.condition then resolve v.content else { })
        else if isAttrs v && (v._type or null) == "merge" then
          foldl' merge { } (map resolve v.contents)
        else
          v;
    in
    resolve
      (import ../../nix/module.nix {
        inherit config lib pkgs;
      }).config;

  main = evaluate {
    cfg = {
      policies = {
        login = "auth password && (fingerprint || u2f)\n";
        sudo = "auth pin || password\n";
        su = "auth password && (fingerprint || u2f)\n";
      };
      u2f = {
        authfile = "/etc/authpolicy/u2f_keys";
        origin = "pam://laptop";
      };
      audit = {
        db = "/var/lib/authpolicy/audit.db";
        required = false;
        retention = "90d";
        journal = null;
      };
      strictCheck = true;
    };
    services = {
      login = service loginAuth managedText;
      sudo = service (loginAuth // { gnome_keyring = rule 12200 false; }) managedText;
      su = service suAuth managedText;
    };
  };
  loginRules = main.security.pam.services.login.rules.auth;
  sudoRules = main.security.pam.services.sudo.rules.auth;
  script = main.security.authpolicy.checkedPolicies.script;
  contains = needle: haystack: lib.hasInfix needle haystack;
  assertionFor = result: prefix: filter (a: lib.hasInfix prefix a.message) result.assertions;
  failedAssertions = result: filter (a: !a.assertion) result.assertions;

  replacedText = evaluate {
    cfg.policies.sudo = "auth password\n";
    services.sudo = service loginAuth "auth sufficient pam_unix.so\naccount required pam_unix.so\n";
  };
  noSettings = evaluate {
    cfg.policies.sshd = "auth password\n";
    services.sshd = service loginAuth managedText;
    sshdPasswordAuthentication = true;
  };
  stringFileName = evaluate {
    cfg.policies.sudo = "/etc/authpolicy/sudo.pol";
    services.sudo = service loginAuth managedText;
  };
  relativeStringFileName = evaluate {
    cfg.policies.sudo = "./policies/sudo.pol\n";
    services.sudo = service loginAuth managedText;
  };
  # nixpkgs' rules that the policy's [default=die] would leave behind, never run: failDelay
  # (moved in front of the policy), homed and intune (copied after it, like the keyrings).
  withFailDelayHomedIntune = evaluate {
    cfg.policies.login = "auth password && totp\n";
    services.login = service (
      loginAuth
      // {
        systemd_home-early = rule 11600 true;
        faildelay = rule 12500 true;
        systemd_home = rule 12800 true;
        intune = rule 12300 true;
      }
    ) managedText;
    homed = true;
    intune = true;
  };
  fdRules = withFailDelayHomedIntune.security.pam.services.login.rules.auth;
  badName = evaluate {
    cfg.policies."../shadow" = "auth password\n";
    services."../shadow" = service loginAuth managedText;
  };

  cases = {
    policy-first-in-login = {
      expr = {
        inherit (loginRules.authpolicy) order control modulePath;
      };
      expected = {
        order = 10850;
        control = "[success=ok default=die]";
        modulePath = pamPath;
      };
    };
    policy-module-arguments = {
      expr = loginRules.authpolicy.settings;
      expected = {
        policy = "/etc/authpolicy/login.pol";
        missing = "fail";
        debug = false;
      };
    };
    gnome-keyring-copy-after-policy = {
      expr = {
        inherit (loginRules.authpolicy-gnome_keyring) enable control;
        after = loginRules.authpolicy-gnome_keyring.order > loginRules.authpolicy.order;
        beforeDone = loginRules.authpolicy-gnome_keyring.order < loginRules.authpolicy-done.order;
        module = loginRules.authpolicy-gnome_keyring.modulePath;
      };
      expected = {
        enable = true;
        control = "optional";
        after = true;
        beforeDone = true;
        module = "${store}-gnome-keyring/lib/security/pam_gnome_keyring.so";
      };
    };
    login-stack-ends-with-permit = {
      expr = {
        inherit (loginRules.authpolicy-done) enable control modulePath;
        beforeFactors = loginRules.authpolicy-done.order < 10900;
      };
      expected = {
        enable = true;
        control = "[success=done default=die]";
        modulePath = "${store}-linux-pam/lib/security/pam_permit.so";
        beforeFactors = true;
      };
    };
    other-captures-off = {
      expr = map (n: loginRules.${policyLib.captureRuleName n}.enable) [
        "kwallet"
        "gnupg"
        "mount"
        "ecryptfs"
        "fscrypt"
        "zfs_key"
        "systemd_home"
        "intune"
      ];
      expected = [
        false
        false
        false
        false
        false
        false
        false
        false
      ];
    };
    sudo-authoritative-alone = {
      expr = {
        inherit (sudoRules.authpolicy) control;
        done = sudoRules.authpolicy-done.enable;
      };
      expected = {
        control = "[success=done default=die]";
        done = false;
      };
    };
    account-rule-first = {
      expr = {
        inherit (main.security.pam.services.sudo.rules.account.authpolicy) order control modulePath;
      };
      expected = {
        order = 10850;
        control = "required";
        modulePath = pamPath;
      };
    };
    su-guard-behind-policy-is-refused = {
      expr = map (a: a.assertion) (assertionFor main "security.pam.services.su.rules.auth: wheel");
      expected = [ false ];
    };
    only-su-fails = {
      expr = builtins.length (failedAssertions main);
      expected = 1;
    };
    policy-files-root-owned-copies = {
      expr = main.environment.etc."authpolicy/sudo.pol";
      expected = {
        source = "${store}-authpolicy-policies/sudo.pol";
        mode = "0444";
        user = "root";
        group = "root";
      };
    };
    common-pol-installed = {
      expr = main.environment.etc ? "authpolicy/common.pol";
      expected = true;
    };
    policy-includes-common = {
      expr = contains "TEXT<<include \"common.pol\"  # added by security.authpolicy\nauth pin || password\n>>" script;
      expected = true;
    };
    common-has-settings = {
      expr = contains ''factor u2f { authfile = "/etc/authpolicy/u2f_keys"; origin = "pam://laptop" }'' script
        && contains ''audit { db = "/var/lib/authpolicy/audit.db"; required = false; retention = 90d }'' script;
      expected = true;
    };
    build-checks-every-policy-strictly = {
      expr = contains "--strict" script
        && contains "${store}-authpolicy/bin/authpolicy" script
        && contains "\"$out\"/'login.pol'" script
        && contains "\"$out\"/'su.pol'" script
        && contains "\"$out\"/'sudo.pol'" script;
      expected = true;
    };
    pin-brings-setgid-helper = {
      expr = main.security.wrappers.authpolicy-pin-helper;
      expected = {
        source = "${store}-authpolicy/libexec/authpolicy/pin-helper";
        owner = "root";
        group = "tss";
        setuid = false;
        setgid = true;
        permissions = "u+rx,g+x,o+x";
      };
    };
    pin-brings-tss-and-udev = {
      expr = {
        group = main.users.groups ? tss;
        udev = contains ''KERNEL=="tpmrm[0-9]*", SUBSYSTEM=="tpmrm", GROUP="tss", MODE="0660"'' main.services.udev.extraRules;
      };
      expected = {
        group = true;
        udev = true;
      };
    };
    audit-folder-root-only = {
      expr = main.systemd.tmpfiles.rules;
      expected = [ "d /var/lib/authpolicy 0700 root root -" ];
    };
    user-text-without-module-is-refused = {
      expr = map (a: a.assertion) (
        filter (a: lib.hasInfix "has no auth account line" a.message) replacedText.assertions
      );
      expected = [ false ];
    };
    no-pin-no-tpm-plumbing = {
      expr = {
        wrappers = noSettings ? security && noSettings.security ? wrappers;
        common = noSettings.environment.etc ? "authpolicy/common.pol";
        script = contains "include" noSettings.security.authpolicy.checkedPolicies.script;
        strict = contains "--strict" noSettings.security.authpolicy.checkedPolicies.script;
      };
      expected = {
        wrappers = false;
        common = false;
        script = false;
        strict = false;
      };
    };
    sshd-password-authentication-warned = {
      expr = builtins.length (filter (w: lib.hasInfix "PasswordAuthentication" w) noSettings.warnings);
      expected = 1;
    };
    bad-service-name-not-installed = {
      expr = {
        etc = badName.environment.etc ? "authpolicy/../shadow.pol";
        pam = badName.security.pam.services ? "../shadow";
      };
      expected = {
        etc = false;
        pam = false;
      };
    };
    # A one-line absolute path given as a string is not read at evaluation time (impure).
    string-file-name-refused = {
      expr = builtins.length (
        filter (a: !a.assertion && lib.hasInfix "names a file as a string" a.message) stringFileName.assertions
      );
      expected = 1;
    };
    relative-string-file-name-refused = {
      expr = builtins.length (
        filter (a: !a.assertion && lib.hasInfix "names a file as a string" a.message)
          relativeStringFileName.assertions
      );
      expected = 1;
    };
    policy-text-is-not-a-file-name = {
      expr = builtins.length (
        filter (a: !a.assertion && lib.hasInfix "names a file as a string" a.message) main.assertions
      );
      expected = 0;
    };
    fail-delay-moved-before-policy = {
      expr = {
        forced = fdRules.faildelay.order._type;
        before = fdRules.faildelay.order.content < fdRules.authpolicy.order;
        # failDelay no longer decides where the policy goes: still before systemd_home-early.
        policyFirst = fdRules.authpolicy.order < 11600;
      };
      expected = {
        forced = "override";
        before = true;
        policyFirst = true;
      };
    };
    homed-and-intune-copied-after-policy = {
      expr = map (n: {
        inherit (fdRules.${policyLib.captureRuleName n}) enable control modulePath;
        between =
          fdRules.${policyLib.captureRuleName n}.order > fdRules.authpolicy.order
          && fdRules.${policyLib.captureRuleName n}.order < fdRules.authpolicy-done.order;
      }) [ "systemd_home" "intune" ];
      expected = [
        {
          enable = true;
          control = "optional";
          modulePath = "${store}-systemd/lib/security/pam_systemd_home.so";
          between = true;
        }
        {
          enable = true;
          control = "optional";
          modulePath = "${store}-intune-portal/lib/security/pam_intune.so";
          between = true;
        }
      ];
    };
    homed-makes-the-stack-end-with-permit = {
      expr = {
        inherit (fdRules.authpolicy) control;
        done = fdRules.authpolicy-done.enable;
      };
      expected = {
        control = "[success=ok default=die]";
        done = true;
      };
    };
    bad-service-name-refused = {
      expr = builtins.length (
        filter (a: !a.assertion && lib.hasInfix "cannot contain '/'" a.message) badName.assertions
      );
      expected = 1;
    };
  };
in
map (name: {
  inherit name;
  got = cases.${name}.expr;
  inherit (cases.${name}) expected;
}) (filter (name: cases.${name}.expr != cases.${name}.expected) (attrNames cases))
