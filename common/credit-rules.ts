// Credits per event type and their rate limits, as the original integration defines them
// (reference-facts §1). Pure: the simulator issues credits by them, the rate-limit review checks
// nodes against them.
export const EVENT_RULES = {
  quality_gradient: { weight: 0.7, limit: 10_000, per: 'hour' },
  byzantine_detection: { weight: 0.05, limit: 2000, per: 'day' },
  peer_validation: { weight: 0.2, limit: 1000, per: 'hour' },
  network_contribution: { weight: 0.05, limit: 24, per: 'day' },
} as const;
