"""The kernel: transactions, the metadata snapshot, the catalog, the save pipeline's hook
points and events. It builds no service; every service stands on it."""
