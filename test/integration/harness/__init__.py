"""Integration-test harness: a private containerd, ctr helpers, leftover checks, raw ttrpc."""
