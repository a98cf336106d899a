"""What the tests share that is not a fixture: paths, status repositories and records, servers on 127.0.0.1,
stand-ins for GitHub's side (replayed answers, keys, an OIDC issuer), act, the writer fault harness."""
