# Builds authpolicy with CMake: pam_policy.so, the authpolicy command, the PIN helper, docs and man pages.
{
  lib,
  stdenv,
  cmake,
  pkg-config,
  linux-pam,
  tpm2-tss,
  libfido2,
  libcbor,
  openssl,
  pegtl,
  libmaxminddb,
  sqlite,
  libmd,
  gtest,
  gbenchmark,
  nlohmann_json,
  qrencode,
  swtpm,
  tpm2-tools,
  oath-toolkit,
  # Run the component test suites that work in the build sandbox (swtpm on loopback, libfido2's
  # software authenticator, sqlite files, oathtool); the flake's `package-tests` check sets it.
  runTests ? false,
  # The PIN helper runs setgid tss, which the store cannot hold: NixOS installs a setgid wrapper
  # (security.wrappers, see module.nix) at this fixed path, compiled into pam_policy.so.
  pinHelperPath ? "/run/wrappers/bin/authpolicy-pin-helper",
}:
let
  policyLib = import ./lib.nix;
  root = ../.;
  rootDir = toString root;
in
stdenv.mkDerivation {
  pname = "authpolicy";
  version = policyLib.projectVersion (builtins.readFile (root + "/CMakeLists.txt"));

  # The repository without VCS data, editor files, result links, in-tree build folders, and the
  # Nix files themselves (editing the module must not rebuild the package).
  src = lib.cleanSourceWith {
    src = lib.cleanSource root;
    filter =
      path: type:
      let
        name = baseNameOf path;
        topLevel = dirOf (toString path) == rootDir;
      in
      !(
        topLevel
        && (
          (type == "directory" && (lib.hasPrefix "build" name || name == "nix"))
          || name == "flake.nix"
          || name == "flake.lock"
        )
      );
  };

  nativeBuildInputs = [
    cmake
    pkg-config
  ];

  buildInputs = [
    linux-pam
    tpm2-tss
    libfido2
    libcbor
    openssl
    pegtl
    libmaxminddb
    sqlite
    libmd
    nlohmann_json
    qrencode
    # Found at configure time even when tests and benchmarks are not built.
    gtest
    gbenchmark
  ];

  cmakeFlags = [
    "-DAUTHPOLICY_POLICY_DIR=/etc/authpolicy"
    # Bare names in pam("x.so") resolve where Linux-PAM itself finds them on NixOS.
    "-DAUTHPOLICY_SYSTEM_PAM_DIR=${linux-pam}/lib/security"
    # The module goes into this package ($out/lib/security, what module.nix names), not into
    # Linux-PAM's folder (the default on other systems).
    "-DAUTHPOLICY_PAM_MODULE_DIR=${placeholder "out"}/lib/security"
    # Where the helper is installed, and the path pam_policy.so and the CLI run it from.
    "-DAUTHPOLICY_PIN_HELPER_PATH=${placeholder "out"}/libexec/authpolicy/pin-helper"
    "-DAUTHPOLICY_PIN_HELPER_RUNTIME_PATH=${pinHelperPath}"
    # The Nix sandbox refuses set-id bits and has no tss group; the wrapper carries them.
    "-DAUTHPOLICY_INSTALL_SETGID=OFF"
    "-DAUTHPOLICY_BENCH=OFF"
    "-DAUTHPOLICY_FUZZ=OFF"
    "-DAUTHPOLICY_TESTS=${if runTests then "ON" else "OFF"}"
    "-DBUILD_TESTING=${if runTests then "ON" else "OFF"}"
  ];

  # Not the whole suite: pam_wrapper, sshd in network namespaces, GeoIP databases written by a
  # Perl module and nix-instantiate are not in the sandbox. The flake's VM test covers PAM, sshd
  # and the TPM device on a real NixOS.
  doCheck = runTests;
  nativeCheckInputs = [
    swtpm
    tpm2-tools
    oath-toolkit
  ];
  # The sandbox builds as an unprivileged user: tests that chown files, need root-owned secret
  # stores or run the setuid PIN helper cannot pass there. They run as root in the project's CI
  # (scripts/test.sh) and the VM test. The list is what fails when these suites run as a user
  # (found by running them as nobody).
  rootOnlyTests = lib.concatStringsSep "|" [
    "^Ownership\\."
    "^Totp(Verify|OathVerify|Provider|Command)\\."
    "^U2f(AuthfilePermissions|Factor|Command)\\."
    "^AuditStore\\.CreatesPrivateFolderAndFileInWalMode$"
    "^PinStoreTest\\.OwnerPasswordFromARootOnlyFile$"
    "^PinHelperTest\\."
    "^PinCommandTest\\."
    "^Backends/PinProviderTest\\..*/Helper$"
  ];
  checkPhase = ''
    runHook preCheck
    ctest --output-on-failure -L '^(engine|tpm|totp|u2f|audit)$' -E "$rootOnlyTests" \
      -j "$NIX_BUILD_CORES"
    runHook postCheck
  '';

  # The installed layout the NixOS module relies on, and a checker that runs.
  doInstallCheck = true;
  installCheckPhase = ''
    runHook preInstallCheck
    for f in lib/security/pam_policy.so bin/authpolicy libexec/authpolicy/pin-helper \
        lib/security/pam_policy-factors/factor_pin.so lib/security/pam_policy-factors/factor_totp.so \
        lib/security/pam_policy-factors/factor_u2f.so; do
      if [ ! -f "$out/$f" ]; then
        echo "authpolicy: $out/$f was not installed" >&2
        exit 1
      fi
    done
    printf 'auth password\n' > smoke.pol
    "$out/bin/authpolicy" check --ignore-ownership smoke.pol
    runHook postInstallCheck
  '';

  meta = {
    description = "Authentication policies for PAM: one readable policy per service, decided by pam_policy.so";
    mainProgram = "authpolicy";
    platforms = lib.platforms.linux;
  };
}
