"""Market and prices: live index state and quotes, NAV math and methodology, price sources, and what an
address holds (balances, staking positions), each read in one Multicall3 round trip."""
