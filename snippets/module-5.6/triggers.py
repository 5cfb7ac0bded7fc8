from dataclasses import dataclass

# The thresholds are the team's decisions, written down where a reviewer can see them.
MAX_DAYS_BETWEEN_TRAININGS = 7
MIN_NEW_LABELS = 5_000
MAX_FEATURE_PSI = 0.2        # population stability index from module 5.5
MAX_PR_AUC_DROP = 0.05       # on labels that arrived since the last training


@dataclass
class Signals:
    days_since_training: int
    new_labels: int
    worst_feature_psi: float
    pr_auc_drop: float | None  # None: not enough labels yet to measure performance


def retrain_reasons(s: Signals) -> list[str]:
    """Why a new training run should start now; an empty list means: not yet."""
    reasons = []
    if s.days_since_training >= MAX_DAYS_BETWEEN_TRAININGS:
        reasons.append("schedule")
    if s.new_labels >= MIN_NEW_LABELS:
        reasons.append("new data")
    if s.worst_feature_psi > MAX_FEATURE_PSI:
        reasons.append("input drift")
    if s.pr_auc_drop is not None and s.pr_auc_drop > MAX_PR_AUC_DROP:
        reasons.append("performance drop")
    return reasons


cases = {
    "quiet Tuesday": Signals(days_since_training=1, new_labels=900, worst_feature_psi=0.03, pr_auc_drop=0.01),
    "weekly run": Signals(days_since_training=7, new_labels=3_000, worst_feature_psi=0.05, pr_auc_drop=None),
    "new merchant launch": Signals(days_since_training=3, new_labels=2_000, worst_feature_psi=0.41, pr_auc_drop=None),
    "fraud ring adapts": Signals(days_since_training=4, new_labels=6_500, worst_feature_psi=0.04, pr_auc_drop=0.12),
}
for name, signals in cases.items():
    print(f"{name:20} -> {', '.join(retrain_reasons(signals)) or 'no run'}")
