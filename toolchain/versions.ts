/**
 * The exact versions of the servers the project runs in tests and in the demo.
 * Bumping one of these makes the bootstrap install the new version beside the old one.
 */
export const TOOLCHAIN_VERSIONS = {
  /** Temporal CLI (dev server + Web UI). Later tags carry a `replace` directive `go install` refuses. */
  temporalCli: '1.5.1',
  /** `io.temporal:temporal-test-server` from Maven Central: the time-skipping test server. */
  temporalTestServer: '1.38.0',
  /** `moto[server]` from PyPI: the AWS emulator. */
  moto: '5.2.5',
  /**
   * OpenTofu, built from the Go module proxy (its `replace` directive rules out `go install`): runs
   * the terraform kind's tests with built-in resources only.
   */
  opentofu: 'v1.10.10',
} as const;
