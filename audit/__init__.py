"""The regulator's audit: chain replay from genesis, registry and governance history, every
node's log, and the reports (`notary audit`)."""
