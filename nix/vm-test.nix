# NixOS VM test: sudo and sshd decided by pam_policy.so, with the PIN in a TPM emulated by swtpm.
# Used by the flake's checks through pkgs.testers.runNixOSTest.
{ authpolicyModule }:
{
  name = "authpolicy";

  nodes.server =
    { pkgs, ... }:
    {
      imports = [ authpolicyModule ];

      # QEMU gets a TPM 2.0 backed by swtpm running beside it: /dev/tpm0 and /dev/tpmrm0.
      virtualisation.tpm.enable = true;

      users.users.alice = {
        isNormalUser = true;
        password = "alice-pw";
        extraGroups = [ "wheel" ];
      };
      users.users.mallory = {
        isNormalUser = true;
        password = "mallory-pw";
      };

      services.openssh = {
        enable = true;
        settings = {
          # Every prompt goes through keyboard-interactive (see the module's warning).
          PasswordAuthentication = false;
          KbdInteractiveAuthentication = true;
        };
      };

      security.authpolicy = {
        enable = true;
        tpm.tcti = "device:/dev/tpmrm0";
        audit.db = "/var/lib/authpolicy/audit.db";
        policies = {
          sudo = ''
            auth pin || password
          '';
          sshd = ''
            set blocked = { mallory }
            deny if user in blocked
            auth password && pin
          '';
          # A stand-in for a screen locker: a program that does not run as root, so the PIN is
          # verified through the setgid helper.
          pintest = ''
            auth pin
          '';
        };
      };

      environment.systemPackages = [ pkgs.pamtester ];
    };

  nodes.client =
    { pkgs, ... }:
    {
      environment.systemPackages = [
        (pkgs.writeScriptBin "ssh-kbd-login" ''
          #!${pkgs.expect}/bin/expect -f
          # ssh-kbd-login USER PASSWORD PIN: logs in on server with keyboard-interactive,
          # answering the password and PIN prompts, and exits with ssh's status.
          set timeout 60
          lassign $argv user password pin
          # Answer each prompt once: a retry loop would spend PIN attempts towards a lockout.
          set pins 0
          set passwords 0
          spawn ssh -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
            -o PreferredAuthentications=keyboard-interactive -o PubkeyAuthentication=no \
            -o NumberOfPasswordPrompts=1 $user@server true
          expect {
            -re {(?i)pin[^:\n]*:} {
              if {$pins > 0} { exit 1 }
              incr pins
              send -- "$pin\r"
              exp_continue
            }
            -re {(?i)password[^:\n]*:} {
              if {$passwords > 0} { exit 1 }
              incr passwords
              send -- "$password\r"
              exp_continue
            }
            timeout { exit 124 }
            eof
          }
          lassign [wait] pid spawnid os_error status
          exit $status
        '')
      ];
    };

  testScript =
    { nodes, ... }:
    let
      module = "${nodes.server.security.authpolicy.package}/lib/security/pam_policy.so";
    in
    ''
      import shlex

      start_all()
      server.wait_for_unit("multi-user.target")
      server.wait_for_unit("sshd.service")
      client.wait_for_unit("multi-user.target")

      def as_alice(command):
          return f"su - alice -c {shlex.quote(command)}"

      with subtest("policies are root-owned copies that pass check on the running system"):
          for name in ["sudo", "sshd", "pintest", "common"]:
              server.succeed(f"test -f /etc/authpolicy/{name}.pol && test ! -L /etc/authpolicy/{name}.pol")
              server.succeed(f"[ \"$(stat -c '%U %G %a' /etc/authpolicy/{name}.pol)\" = 'root root 444' ]")
          # No --ignore-ownership here: these are the files pam_policy.so reads.
          server.succeed("authpolicy check /etc/authpolicy/sudo.pol /etc/authpolicy/sshd.pol /etc/authpolicy/pintest.pol")
          print(server.succeed("authpolicy explain /etc/authpolicy/sudo.pol"))

      with subtest("pam_policy.so decides the auth stacks and carries the account stacks"):
          server.succeed("bash ${./check-pam-stack.sh} ${module} /etc/pam.d/sudo /etc/pam.d/sshd /etc/pam.d/pintest")

      with subtest("the TPM belongs to tss and the PIN helper is a setgid tss wrapper"):
          server.succeed("[ \"$(stat -c '%G %a' /dev/tpmrm0)\" = 'tss 660' ]")
          server.succeed("test -g /run/wrappers/bin/authpolicy-pin-helper")
          server.succeed("[ \"$(stat -c '%U %G' /run/wrappers/bin/authpolicy-pin-helper)\" = 'root tss' ]")
          server.fail("su - alice -c 'test -r /dev/tpmrm0'")

      with subtest("a PIN is enrolled for alice in the TPM"):
          server.succeed("printf '1234\\n1234\\n' | authpolicy pin setup alice")
          print(server.succeed("authpolicy pin status alice"))

      with subtest("sudo: the PIN alone passes"):
          server.succeed(as_alice("printf '1234\\n' | sudo -S -k true"))

      with subtest("sudo: a wrong PIN falls back to the password"):
          server.succeed(as_alice("printf '9999\\nalice-pw\\n' | sudo -S -k true"))
          server.succeed(as_alice("printf '1234\\n' | sudo -S -k true"))

      with subtest("sudo: a wrong PIN and a wrong password are refused"):
          server.fail(as_alice("printf '9999\\nwrong\\n' | sudo -S -k true"))
          server.succeed(as_alice("printf '1234\\n' | sudo -S -k true"))

      with subtest("a program not running as root verifies the PIN through the helper"):
          server.succeed(as_alice("printf '1234\\n' | pamtester pintest alice authenticate"))
          server.fail(as_alice("printf '9999\\n' | pamtester pintest alice authenticate"))
          server.succeed(as_alice("printf '1234\\n' | pamtester pintest alice authenticate"))

      with subtest("sshd: password and PIN over keyboard-interactive"):
          client.succeed("ssh-kbd-login alice alice-pw 1234")

      with subtest("sshd: the password alone is not enough"):
          client.fail("ssh-kbd-login alice alice-pw 9999")
          client.fail("ssh-kbd-login alice wrong 1234")
          client.succeed("ssh-kbd-login alice alice-pw 1234")

      with subtest("sshd: public key logins skip auth but still meet deny if (account stack)"):
          client.succeed("mkdir -p -m 700 /root/.ssh && ssh-keygen -q -t ed25519 -N ''' -f /root/.ssh/id_ed25519")
          public_key = client.succeed("cat /root/.ssh/id_ed25519.pub").strip()
          for user in ["alice", "mallory"]:
              server.succeed(
                  f"install -d -m 700 -o {user} -g users /home/{user}/.ssh"
                  f" && echo '{public_key}' > /home/{user}/.ssh/authorized_keys"
                  f" && chown {user}:users /home/{user}/.ssh/authorized_keys"
                  f" && chmod 600 /home/{user}/.ssh/authorized_keys"
              )
          ssh = "ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
          # Also proves that setcred on a handle that never ran auth does not break the login.
          client.succeed(f"{ssh} alice@server true")
          client.fail(f"{ssh} mallory@server true")

      with subtest("decisions reached the audit log"):
          server.succeed("test -s /var/lib/authpolicy/audit.db")
          server.succeed("[ \"$(stat -c '%U %a' /var/lib/authpolicy)\" = 'root 700' ]")
    '';
}
