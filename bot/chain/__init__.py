"""Chain access: JSON-RPC through Multicall3, chunked log reads, the contracts' functions, chain profiles
and the checks of a profile against its chain (start-up, `indexbot check`, the database's binding)."""
