# Cases for nix/lib.nix, the module's pure logic; evaluates to the list of failing cases (empty when all pass).
# Run: nix-instantiate --store dummy:// --readonly-mode --eval --strict --json tests/nix/lib-test.nix
let
  l = import ../../nix/lib.nix;
  inherit (builtins)
    attrNames
    filter
    map
    sort
    tryEval
    ;

  throws = expr: !(tryEval expr).success;

  # How nixpkgs turns rules into an auth stack: enabled rules, ascending order. Test-only
  # model used to read off the resulting sequence of rule names.
  stack =
    rules: map (r: r.name) (sort (a: b: a.order < b.order) (filter (r: r.enable) (map (n: rules.${n} // { name = n; }) (attrNames rules))));
  rule = order: enable: { inherit order enable; };

  # The auth rules nixpkgs generates for `login` with fprintd, pam_u2f and gnome-keyring on
  # (orders as autoOrderRules assigns them: 10000 + 100 × position, disabled ones included).
  loginRules = {
    oslogin_login = rule 10100 false;
    rootok = rule 10200 false;
    wheel = rule 10300 false;
    faillock = rule 10400 false;
    u2f = rule 10900 true;
    fprintd = rule 11400 true;
    unix-early = rule 11700 true;
    gnome_keyring = rule 12200 true;
    unix = rule 12900 true;
    deny = rule 13700 true;
  };
  # `su` with requireWheel: the guards rootok and wheel are on.
  suRules = loginRules // {
    rootok = rule 10200 true;
    wheel = rule 10300 true;
    unix-early = rule 11700 false;
    gnome_keyring = rule 12200 false;
  };

  # What the module adds to a service, given its nixpkgs rules and the enabled captures.
  withPolicy =
    rules: captures:
    let
      others = removeAttrs rules (l.ownAuthRuleNames ++ l.guardRuleNames);
      layout = l.authLayout {
        decidingOrders = map (n: others.${n}.order) (filter (n: others.${n}.enable) (attrNames others));
        inherit captures;
      };
    in
    rules
    // {
      authpolicy = rule layout.policyOrder true;
      authpolicy-done = rule layout.doneOrder layout.doneEnabled;
    }
    // builtins.listToAttrs (
      map (name: {
        name = l.captureRuleName name;
        value = rule (layout.captureOrder name) (builtins.elem name captures);
      }) l.captureNames
    );

  loginLayout = l.authLayout {
    decidingOrders = [
      10900
      11400
      12900
    ];
    captures = [ "gnome_keyring" ];
  };
  sudoLayout = l.authLayout {
    decidingOrders = [
      11400
      12900
    ];
    captures = [ ];
  };

  pam = "/nix/store/x-authpolicy/lib/security/pam_policy.so";
  goodText = ''
    # Account management.
    account required ${pam} missing=fail policy=/etc/authpolicy/sudo.pol # authpolicy (order 10850)
    account required /nix/store/y-linux-pam/lib/security/pam_unix.so # unix (order 10900)

    # Authentication management.
    auth [success=done default=die] ${pam} missing=fail policy=/etc/authpolicy/sudo.pol # authpolicy (order 11350)
    auth sufficient /nix/store/y-linux-pam/lib/security/pam_unix.so likeauth try_first_pass # unix (order 12900)
  '';

  cases = {
    # Service names (docs/language.md, first paragraph).
    service-name-plain = {
      expr = l.validServiceName "sudo";
      expected = true;
    };
    service-name-dashes = {
      expr = l.validServiceName "polkit-1";
      expected = true;
    };
    service-name-slash = {
      expr = l.validServiceName "../shadow";
      expected = false;
    };
    service-name-dot = {
      expr = l.validServiceName ".hidden";
      expected = false;
    };
    service-name-empty = {
      expr = l.validServiceName "";
      expected = false;
    };

    # Policy string literals.
    quote-plain = {
      expr = l.quote "/etc/authpolicy/u2f_keys";
      expected = ''"/etc/authpolicy/u2f_keys"'';
    };
    quote-escapes = {
      expr = l.quote ''a"b\c'';
      expected = ''"a\"b\\c"'';
    };
    quote-refuses-newline = {
      expr = throws (l.quote "a\nb");
      expected = true;
    };
    duration-bare = {
      expr = l.renderValue { duration = "90d"; };
      expected = "90d";
    };
    duration-refused = {
      expr = throws (l.renderValue { duration = "90 days"; });
      expected = true;
    };

    # common.pol
    common-none = {
      expr = l.commonPolicy {
        audit = {
          db = null;
          required = null;
        };
        factors.u2f.authfile = null;
      };
      expected = null;
    };
    common-all = {
      expr = l.commonPolicy {
        audit = {
          db = "/var/lib/authpolicy/audit.db";
          required = true;
          retention = {
            duration = "90d";
          };
        };
        geoip = {
          country = "/var/lib/GeoIP/GeoLite2-Country.mmdb";
          asn = null;
        };
        tpm = {
          tcti = "device:/dev/tpmrm0";
          owner_auth_file = "/etc/authpolicy/tpm-owner";
        };
        factors = {
          u2f.authfile = "/etc/authpolicy/u2f_keys";
          totp.secrets = "/etc/authpolicy/totp/%u";
          fingerprint.module = null;
        };
      };
      expected = ''
        # Generated by the NixOS option security.authpolicy; included by every managed policy.
        audit { db = "/var/lib/authpolicy/audit.db"; required = true; retention = 90d }
        geoip { country = "/var/lib/GeoIP/GeoLite2-Country.mmdb" }
        tpm { owner_auth_file = "/etc/authpolicy/tpm-owner"; tcti = "device:/dev/tpmrm0" }
        factor totp { secrets = "/etc/authpolicy/totp/%u" }
        factor u2f { authfile = "/etc/authpolicy/u2f_keys" }
      '';
    };

    # Injecting the include.
    compose-adds-include = {
      expr = l.composePolicy {
        text = "auth password\n";
        withCommon = true;
      };
      expected = "include \"common.pol\"  # added by security.authpolicy\nauth password\n";
    };
    compose-keeps-own-include = {
      expr = l.composePolicy {
        text = "include \"common.pol\"\nauth password\n";
        withCommon = true;
      };
      expected = "include \"common.pol\"\nauth password\n";
    };
    compose-without-common = {
      expr = l.composePolicy {
        text = "auth password\n";
        withCommon = false;
      };
      expected = "auth password\n";
    };

    # Detecting the pin factor.
    pin-used = {
      expr = l.usesFactor "pin" "auth pin || password\n";
      expected = true;
    };
    pin-in-let = {
      expr = l.usesFactor "pin" "let second = pin || u2f\nauth password && second\n";
      expected = true;
    };
    pin-only-in-comment = {
      expr = l.usesFactor "pin" "# pin later\nauth password # no pin yet\n";
      expected = false;
    };
    pin-only-in-string = {
      expr = l.usesFactor "pin" "factor otp = pam(\"pam_pin.so\", \"pin #1\")\nauth password && otp\n";
      expected = false;
    };
    pin-after-string-with-hash = {
      expr = l.usesFactor "pin" "set s = { \"a#b\" }\nauth pin\n";
      expected = true;
    };
    pin-not-a-prefix = {
      expr = l.usesFactor "pin" "set pinned = { alice }\nauth password\n";
      expected = false;
    };

    # Where the rules go.
    login-policy-order = {
      expr = loginLayout.policyOrder;
      expected = 10850;
    };
    login-policy-control = {
      expr = loginLayout.policyControl;
      expected = "[success=ok default=die]";
    };
    login-done-after-captures = {
      expr = loginLayout.captureOrder "zfs_key" < loginLayout.doneOrder && loginLayout.doneEnabled;
      expected = true;
    };
    sudo-authoritative = {
      expr = sudoLayout.policyControl;
      expected = "[success=done default=die]";
    };
    sudo-no-done-rule = {
      expr = sudoLayout.doneEnabled;
      expected = false;
    };
    login-stack = {
      expr = stack (withPolicy loginRules [ "gnome_keyring" ]);
      expected = [
        "authpolicy"
        "authpolicy-gnome_keyring"
        "authpolicy-done"
        "u2f"
        "fprintd"
        "unix-early"
        "gnome_keyring"
        "unix"
        "deny"
      ];
    };
    su-stack-keeps-guards-first = {
      expr = stack (withPolicy suRules [ ]);
      expected = [
        "rootok"
        "wheel"
        "authpolicy"
        "u2f"
        "fprintd"
        "unix"
        "deny"
      ];
    };
    guards-before = {
      expr = (l.authLayout {
        decidingOrders = [ 10900 ];
        captures = [ ];
      }).guardsBefore [
        10200
        10300
      ];
      expected = true;
    };
    guard-after-policy-detected = {
      expr = (l.authLayout {
        decidingOrders = [ 10100 ];
        captures = [ ];
      }).guardsBefore [ 10300 ];
      expected = false;
    };
    no-other-rules = {
      expr = (l.authLayout {
        decidingOrders = [ ];
        captures = [ ];
      }).policyOrder;
      expected = 9950;
    };
    account-first = {
      expr = l.accountOrder [
        10900
        10500
      ];
      expected = 10450;
    };

    # Reading generated PAM text.
    text-good = {
      expr = l.pamTextUse pam goodText;
      expected = {
        auth = true;
        account = true;
        weakAuth = false;
      };
    };
    text-replaced-by-user = {
      expr = l.pamTextUse pam "auth sufficient pam_unix.so\naccount required pam_unix.so\n";
      expected = {
        auth = false;
        account = false;
        weakAuth = false;
      };
    };
    text-sufficient-is-weak = {
      expr = (l.pamTextUse pam "auth sufficient ${pam}\naccount required ${pam}\n").weakAuth;
      expected = true;
    };
    text-dash-auth-does-not-count = {
      expr = (l.pamTextUse pam "-auth [success=done default=die] ${pam}\n").auth;
      expected = false;
    };
    text-comment-mention-does-not-count = {
      expr = (l.pamTextUse pam "# auth required ${pam}\n").auth;
      expected = false;
    };

    # The package version comes from the root CMakeLists.txt.
    version-parsed = {
      expr = l.projectVersion "cmake_minimum_required(VERSION 3.25)\nproject(authpolicy VERSION 1.2.3 LANGUAGES C CXX)\n";
      expected = "1.2.3";
    };
    version-of-this-repository = {
      expr = builtins.match "[0-9]+\\.[0-9]+\\.[0-9]+" (l.projectVersion (builtins.readFile ../../CMakeLists.txt)) != null;
      expected = true;
    };
  };
in
map (name: {
  inherit name;
  got = cases.${name}.expr;
  inherit (cases.${name}) expected;
}) (filter (name: cases.${name}.expr != cases.${name}.expected) (attrNames cases))
