// Retention: plan-based sweeps, account closure and data-subject requests (see issue 4).
