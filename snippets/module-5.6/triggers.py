from cardfraud.features import FEATURE_COLUMNS
from cardfraud.monitoring import MIN_CONFIRMED_FRAUD, RECALL_SLO

# The thresholds are the team's decisions, written down where a reviewer can see them. The first
# two are module 5.5's alert rules (alerts.yml), read here from the monitor's daily signals.
MAX_INPUT_PSI = 0.25  # CardfraudInputDrift: a "major shift" of an input
NOT_ALERTED = {"merchant_risk_rate"}  # accumulates chargebacks: moves every week by design
MAX_DAYS_BETWEEN_TRAININGS = 7  # the schedule: the workflow's Monday run


def retrain_reasons(signals: dict, days_since_training: int) -> list[str]:
    """Why a training run should start, from one day of ``cardfraud.monitoring.daily_signals``;
    an empty list means: not yet."""
    reasons = []
    if days_since_training >= MAX_DAYS_BETWEEN_TRAININGS:
        reasons.append("schedule")
    # CardfraudConfirmedRecallLow: the labels that have arrived say the model misses fraud.
    if signals["confirmed_fraud"] >= MIN_CONFIRMED_FRAUD and signals["confirmed_fraud_recall"] < RECALL_SLO:
        reasons.append("performance drop")
    drifted = sorted(f for f, value in signals["feature_psi"].items() if f not in NOT_ALERTED and value > MAX_INPUT_PSI)
    if drifted:
        reasons.append(f"input drift ({', '.join(drifted)})")
    return reasons


def day(recall: float, confirmed: int, **psi: float) -> dict:
    """A day of signals shaped as daily_signals returns them (PSI 0.01 for inputs not named)."""
    return {"confirmed_fraud_recall": recall, "confirmed_fraud": confirmed,
            "feature_psi": {f: psi.get(f, 0.01) for f in FEATURE_COLUMNS}}


cases = {
    "quiet Tuesday": (day(0.91, 120, merchant_risk_rate=5.2), 1),
    "launch week": (day(0.67, 3), 3),
    "a week on": (day(0.90, 98), 7),
    "new merchant launch": (day(0.89, 110, merchant_category=0.41), 3),
    "fraud ring adapts": (day(0.74, 128, merchant_risk_rate=5.2), 2),
}
for name, (signals, days) in cases.items():
    print(f"{name:20} -> {', '.join(retrain_reasons(signals, days)) or 'no run'}")
