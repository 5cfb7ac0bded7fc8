# %% [markdown]
# # Lab 5.4: serve the champion, canary a challenger
#
# This lab starts from module 5.3's result: the tuned model registered as
# `fraud-detector@champion` in MLflow, trained on module 5.2's Feast training set. One call
# rebuilds both in this folder: `course.champion()`.
#
# You serve exactly that model (loaded by MLflow, skops with trusted types) behind a Feast
# transformer and a router, replay the bank's payments through it with every prediction
# logged, shadow and then canary a challenger, and decide on the evidence the labels give
# on the day you decide. Everything runs on 127.0.0.1.
#
# Three exercises ask you to write a decisive step; a grader after each says PASS, what went
# wrong, or "not done yet". The lab carries on either way: its own steps use the course's code.

# %% [markdown]
# ## Step 1: module 5.3's champion, rebuilt

# %%
# --8<-- [start:launch]
import atexit
from contextlib import ExitStack

import pandas as pd

from cardfraud import course

course.lab_folder("lab-5.4")  # an empty folder, so a second run starts like the first
launch = course.champion()  # 5.2's feature store and 5.3's tuned model, registered @champion
print(f"champion: {launch.model_uri} = version {launch.version}, trained on payments before "
      f"{launch.evaluation['event_timestamp'].min():%d %b}, judged on the week after")
# --8<-- [end:launch]

# %% [markdown]
# ## Step 2: serve it behind the Feast transformer, replay the launch day
#
# Three processes: a KServe predictor that loads version 1 from MLflow, a router, and a
# KServe transformer (`--predictor_host`) that looks each payment's features up in Feast's
# online store and logs every prediction.

# %%
# --8<-- [start:serve]
from cardfraud.costs import DECISION_THRESHOLD

LAUNCH_DAY, SHADOW_DAY, CANARY_DAY = (pd.Timestamp(day, tz="UTC") for day in ["2026-02-16", "2026-02-23", "2026-02-24"])
ONE_DAY = pd.Timedelta(days=1)


def on(day, frame):
    """The rows of ``frame`` that belong to one day's requests (request ids start with the day)."""
    return frame["request_id"].str.startswith(f"{day:%Y-%m-%d}")


transactions = course.payments("2026-02-25")  # the bank's payments until the canary day ends
feeds = course.Feeds.of(transactions)  # what the stream and the daily batch write to Feast
servers = ExitStack()  # every server this lab starts; the last step stops them
atexit.register(servers.close)  # so does the kernel, if it stops first

champion = f"v{launch.version}"
stack = servers.enter_context(course.serving_stack(launch.store, {champion: f"models:/fraud-detector/{launch.version}"}))
log = course.PredictionLog(stack.prediction_log)

served = course.replay(stack, feeds, LAUNCH_DAY, LAUNCH_DAY + ONE_DAY)
logged = log.frame()
print(f"{LAUNCH_DAY:%d %b}: {len(served)} requests, statuses {served['status'].value_counts().to_dict()}, "
      f"{len(logged)} payments logged")
print("log columns:", ", ".join(logged.columns[:8]), "+ the 10 features")
print(f"flagged at DECISION_THRESHOLD={DECISION_THRESHOLD}: {logged['flagged'].mean():.2%} of payments")
# --8<-- [end:serve]

# %% [markdown]
# ## Step 3: a request the server cannot score is refused
#
# The gateway sends a payment whose amount arrives as text. The transformer answers 400 and
# names the field, instead of scoring something that is not the payment.

# %%
# --8<-- [start:refuse]
import httpx

payment = course.payment_requests(transactions.tail(1))[0]
broken = {**payment, "amount": str(payment["amount"])}
answer = httpx.post(f"{stack.url}/v1/models/fraud-detector:predict", json={"instances": [broken]},
                    headers={"x-request-id": "bad-amount"})
print(answer.status_code, answer.json()["error"])
# --8<-- [end:refuse]

# %% [markdown]
# ## Exercise 1: check one instance before the model sees it
#
# The predictor behind the transformer must refuse, with a message naming the field, every
# instance it cannot score correctly. Write that check for one instance of features.

# %%
# --8<-- [start:exercise-check_instance]
from cardfraud.exercises import lab_5_4
from cardfraud.features import CATEGORICAL_COLUMNS, FEATURE_COLUMNS


def check_instance(instance: dict) -> str | None:
    """None if the model can score ``instance`` (one v1 instance: {feature: value}); otherwise a
    message that names the offending field.

    Refuse: a missing feature, an unknown key, a string where a number goes (or a number where a
    string goes), a bool where a number goes. The integer features take whole numbers.
    """
    # Hint: compare the keys with FEATURE_COLUMNS both ways; `isinstance(True, int)` is True.
    raise NotImplementedError
# --8<-- [end:exercise-check_instance]


# %% tags=["solution"]
# --8<-- [start:solution-check_instance]
INTEGER_FEATURES = ["hour", "is_foreign", "tx_count_1h", "tx_count_24h"]


def check_instance(instance: dict) -> str | None:
    missing = [name for name in FEATURE_COLUMNS if name not in instance]
    unknown = sorted(set(instance) - set(FEATURE_COLUMNS))
    if missing or unknown:
        return f"missing fields {missing}, unknown fields {unknown}"
    for name in FEATURE_COLUMNS:
        value = instance[name]
        if name in CATEGORICAL_COLUMNS:
            if not isinstance(value, str):
                return f"{name}: expected a string, got {value!r}"
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{name}: expected a number, got {value!r}"
        elif name in INTEGER_FEATURES and not float(value).is_integer():
            return f"{name}: expected a whole number, got {value!r}"
    return None
# --8<-- [end:solution-check_instance]


# %%
# --8<-- [start:grade-check_instance]
lab_5_4.grade_check_instance(check_instance)
# --8<-- [end:grade-check_instance]

# %% [markdown]
# ## Step 4: a challenger, trained a week later on the labels known then
#
# On 23 February the bank knows a week more of chargebacks. The challenger is the same tuned
# model trained on the payments matured that day (older than 14 days), and registered as
# `@challenger`; @champion does not move.

# %%
# --8<-- [start:challenger]
import mlflow.sklearn
from threadpoolctl import threadpool_limits

from cardfraud.decisions import MIN_POSITIVES, compare
from cardfraud.features import build_features
from cardfraud.labels import decision_windows, matured
from cardfraud.model import evaluate, score, train
from cardfraud.tracking import log_and_register


def describe(comparison) -> str:
    """A paired comparison in one line; no interval below MIN_POSITIVES known frauds."""
    if comparison.positives < MIN_POSITIVES:
        gain = f"gain {comparison.gain:+.3f}, no interval" if comparison.positives else "nothing to compare"
    else:
        gain = f"gain {comparison.gain:+.3f} [{comparison.low:+.3f}, {comparison.high:+.3f}]"
    return f"{comparison.positives} known frauds in {comparison.rows:,} payments, PR-AUC {gain}: {comparison.verdict}"


# The same rows as Feast's point-in-time training set (module 5.2 checks that they agree), ten times faster.
rows = build_features(transactions[matured(transactions, SHADOW_DAY)])
train_rows, evaluation = decision_windows(rows, SHADOW_DAY)  # labels as known on 23 February
with threadpool_limits(limits=1):
    model = train(train_rows, **course.TUNED_PARAMS)
    version = log_and_register(model, train_rows, evaluate(model, evaluation), {**course.TUNED_PARAMS, "trained_on": f"{SHADOW_DAY:%Y-%m-%d}"},
                               alias="challenger", run_name="challenger")
    offline = compare(evaluation["is_fraud"], score(mlflow.sklearn.load_model(launch.model_uri), evaluation), score(model, evaluation))
challenger = f"v{version}"
print(f"challenger: version {version}, trained on {len(train_rows):,} payments before {evaluation['event_timestamp'].min():%d %b} "
      f"(the champion on {len(decision_windows(rows, LAUNCH_DAY)[0]):,})")
print(f"offline, the week from {evaluation['event_timestamp'].min():%d %b}: {describe(offline)}")
# --8<-- [end:challenger]

# %% [markdown]
# ## Exercise 2: a stable bucket for each unit
#
# The router sends a request to an arm by hashing its id with a salt into a number in
# [0, 1); the transformer picks its 1% holdout the same way. Write that hash.

# %%
# --8<-- [start:exercise-stable_bucket]
def stable_bucket(unit_id: str, salt: str) -> float:
    """A number in [0, 1) for ``unit_id``: the same in every process, on every machine, every
    time; spread evenly over [0, 1); and independent for two different salts."""
    # Hint: hashlib gives the same digest everywhere; Python's hash() of a str does not.
    raise NotImplementedError
# --8<-- [end:exercise-stable_bucket]


# %% tags=["solution"]
# --8<-- [start:solution-stable_bucket]
import hashlib


def stable_bucket(unit_id: str, salt: str) -> float:
    digest = hashlib.sha256(f"{salt}:{unit_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64
# --8<-- [end:solution-stable_bucket]


# %%
# --8<-- [start:grade-stable_bucket]
lab_5_4.grade_stable_bucket(stable_bucket)
# --8<-- [end:grade-stable_bucket]

# %% [markdown]
# ## Step 5: the shadow day, then the canary day
#
# On 23 February the challenger answers nobody: the router mirrors every request to it and
# records both answers. On 24 February it takes 10% of the requests, sent every ten minutes
# so that the split has enough units to be tested.

# %%
# --8<-- [start:rollout]
from cardfraud.serving import ModelServerProcess, free_port, predictor_arguments, running

predictor = ModelServerProcess(free_port(), predictor_arguments(f"models:/fraud-detector/{version}"), log_path=f"predictor-{challenger}.log")
stack.predictors[challenger] = servers.enter_context(running({challenger: predictor}))[challenger]
stack.router.add_backend(challenger, stack.predictors[challenger], {champion: 1.0, challenger: 0.0})

stack.router.set_shadow(challenger)
shadow_served = course.replay(stack, feeds, SHADOW_DAY, SHADOW_DAY + ONE_DAY)
stack.router.set_shadow(None)  # waits for the last mirrored answers

stack.router.set_weights({champion: 1 - course.CANARY_SHARE, challenger: course.CANARY_SHARE})
canary_served = course.replay(stack, feeds, CANARY_DAY, CANARY_DAY + ONE_DAY, window=course.CANARY_WINDOW)
logged = log.frame()
for day, requests in [(SHADOW_DAY, shadow_served), (CANARY_DAY, canary_served)]:
    print(f"{day:%d %b}: {len(requests)} requests, {requests['payments'].sum():,} payments, "
          f"answered by versions {logged.loc[on(day, logged), 'model_version'].value_counts().to_dict()}")
print("mirrored to the challenger on the shadow day:", len(stack.router.shadow_log), "requests")
# --8<-- [end:rollout]

# %% [markdown]
# ## Step 6: the canary's guardrails, and the shadow on the labels known that night

# %%
# --8<-- [start:readout]
import numpy as np

from cardfraud.labels import label_as_known
from cardfraud.serving import shadow_scores

readout = course.canary_readout(canary_served, stack.router.served, logged[on(CANARY_DAY, logged)],
                                {champion: launch.version, challenger: version})
print(readout.per_arm.drop(columns="p99_seconds").round(4).to_string())  # latencies vary from run to run:
p99 = readout.per_arm["p99_seconds"]
print(f"challenger p99 within the {course.MAX_P99_SECONDS:.0f} s budget: {p99[challenger] <= course.MAX_P99_SECONDS}")
print(f"SRM p = {readout.srm_p:.3f}, more alerts from the challenger: one-sided p = {readout.alerts_p:.3f}")
print(f"guardrails: {readout.decision} ({readout.reason})")

# The shadow day's payments, each scored by both models: the same rows, a paired comparison.
pairs = shadow_scores(stack.router.shadow_log)
shadow_rows = (logged.assign(position=logged.groupby("request_id").cumcount())
               .merge(pairs, on=["request_id", "position"])
               .merge(transactions[["transaction_id", "is_fraud", "label_available_at"]], on="transaction_id"))
assert np.allclose(shadow_rows["score"], shadow_rows["primary"])  # the log and the router agree


def shadow_comparison(as_of):
    return compare(label_as_known(shadow_rows, as_of), shadow_rows["primary"], shadow_rows["shadow"])


DECIDED_ON = CANARY_DAY + ONE_DAY  # midnight after the canary day
tonight = shadow_comparison(DECIDED_ON)
print(f"shadow, labels known {DECIDED_ON:%d %b}: {describe(tonight)}")
# --8<-- [end:readout]

# %% [markdown]
# ## Exercise 3: the canary decision
#
# Write the rule that turns the canary's numbers and the shadow comparison into one of four
# decisions. It is the rule the next step applies to this canary (with `course.canary_readout`
# for the guardrails), and the rule the final check recomputes.

# %%
# --8<-- [start:exercise-canary_decision]
from scipy.stats import chisquare
from statsmodels.stats.proportion import proportions_ztest

from cardfraud.decisions import MIN_POSITIVES

SRM_ALPHA = 0.001  # below this p-value the split is broken: read nothing else
GUARDRAIL_ALPHA = 0.05  # significantly more alerts than the champion: roll back
MAX_P99_SECONDS = 2.0  # the gateway's timeout: the challenger's p99 latency must stay within it


def canary_decision(per_arm: pd.DataFrame, challenger_share: float, shadow) -> str:
    """"hold", "rollback", "continue" or "promote" once a canary step has run.

    per_arm: one row per arm, the champion first, with columns requests, errors, p99_seconds,
    payments and alert_rate (the share of payments flagged at DECISION_THRESHOLD).
    challenger_share: the share of requests the router was asked to send to the challenger.
    shadow: a cardfraud.decisions.Comparison of the two models on the same payments.

    In this order: the split first (a chi-square test of the requests against the shares asked
    for; p < SRM_ALPHA: "hold", and read nothing else); then the guardrails, each a "rollback":
    a higher error rate than the champion's, a p99 latency over MAX_P99_SECONDS,
    significantly more alerts (p < GUARDRAIL_ALPHA); then quality, from the shadow: "promote"
    only when at least MIN_POSITIVES known frauds put the whole interval of the gain above its
    margin, "rollback" when the interval lies below it, otherwise "continue".
    """
    # Hint: which way does the alert guardrail look? See proportions_ztest's `alternative`.
    raise NotImplementedError
# --8<-- [end:exercise-canary_decision]


# %% tags=["solution"]
# --8<-- [start:solution-canary_decision]
def canary_decision(per_arm: pd.DataFrame, challenger_share: float, shadow) -> str:
    champion_arm, challenger_arm = per_arm.index
    requests = per_arm["requests"].to_numpy()
    asked = np.array([1 - challenger_share, challenger_share]) * requests.sum()
    if chisquare(requests, f_exp=asked).pvalue < SRM_ALPHA:
        return "hold"
    arms = per_arm.loc[[challenger_arm, champion_arm]]  # the challenger first: the test asks "is it larger?"
    error_rates = arms["errors"] / arms["requests"]
    if error_rates.iloc[0] > error_rates.iloc[1]:
        return "rollback"
    if arms["p99_seconds"].iloc[0] > MAX_P99_SECONDS:
        return "rollback"
    alerts = (arms["alert_rate"] * arms["payments"]).round().astype(int)
    _, p_more_alerts = proportions_ztest(alerts.to_numpy(), arms["payments"].to_numpy(), alternative="larger")
    if p_more_alerts < GUARDRAIL_ALPHA:
        return "rollback"
    if shadow.positives < MIN_POSITIVES:
        return "continue"
    if shadow.low > shadow.margin:
        return "promote"
    return "rollback" if shadow.high < shadow.margin else "continue"
# --8<-- [end:solution-canary_decision]


# %%
# --8<-- [start:grade-canary_decision]
lab_5_4.grade_canary_decision(canary_decision)
# --8<-- [end:grade-canary_decision]

# %% [markdown]
# ## Step 7: decide, act, and read the shadow again when its labels have matured
#
# The rule: guardrails first (`course.canary_readout`), then the shadow's verdict. A verdict of
# "not enough evidence" keeps the canary running; the champion keeps its alias.

# %%
# --8<-- [start:decide]
from cardfraud.labels import LABEL_MATURITY_DAYS

ROLLOUT = {"promote": "promote", "keep": "rollback", "not enough evidence": "continue"}
decision = readout.decision if readout.decision != "promote" else ROLLOUT[tonight.verdict]
if decision == "promote":
    course.promote(stack, champion, challenger, "sqlite:///mlflow.db")
elif decision == "rollback":
    course.roll_back(stack, champion, challenger, "sqlite:///mlflow.db")
elif decision == "hold":
    stack.router.set_weights({champion: 1.0, challenger: 0.0})  # no traffic until the split is fixed
print(f"decision on {DECIDED_ON:%d %b}: {decision}; router weights {stack.router.weights}")

MATURED_ON = SHADOW_DAY + pd.Timedelta(days=LABEL_MATURITY_DAYS)
later = shadow_comparison(MATURED_ON)
print(f"shadow, labels known {MATURED_ON:%d %b}: {describe(later)}")
# What it would take: the offline interval shrinks like 1/sqrt(known frauds); it must shrink until
# it no longer reaches across the margin from the gain.
half_width = (offline.high - offline.low) / 2
frauds_needed = offline.positives * (half_width / abs(offline.gain - offline.margin)) ** 2
print(f"to tell a gain of {offline.gain:+.3f} from the {offline.margin} margin: about {frauds_needed:,.0f} known frauds, "
      f"{frauds_needed / max(later.positives, 1):,.0f} shadow days at {later.positives} a day")
# --8<-- [end:decide]

# %% [markdown]
# ## Step 8: the holdout
#
# One payment in a hundred (a stable hash of its id) is scored and logged, but answered
# `flagged: false`: its outcome does not depend on the model.

# %%
# --8<-- [start:holdout]
holdout = logged[logged["holdout"]]
print(f"holdout: {len(holdout)} of {len(logged):,} payments ({len(holdout) / len(logged):.1%}), "
      f"{int(holdout['flagged'].sum())} flagged, {int((holdout['score'] >= DECISION_THRESHOLD).sum())} "
      f"would have been")
# --8<-- [end:holdout]

# %% [markdown]
# ## Check: every payment answered and logged, and a decision the data supports
#
# The decision is recomputed here from the raw records (router, replay, log, labels), not
# from `canary_readout` or `compare`; the registry and the router must show it was acted on.

# %%
# --8<-- [start:check]
from mlflow import MlflowClient
from sklearn.metrics import average_precision_score
from statsmodels.stats.proportion import proportions_ztest

from cardfraud.exercises import report

servers.close()  # every server stops before the check
days = [LAUNCH_DAY, SHADOW_DAY, CANARY_DAY]
replayed = pd.concat([served, shadow_served, canary_served])
expected_payments = sum(course.payments_between(transactions, day, day + ONE_DAY) for day in days)

# The canary day from the raw records: who served each request, how fast, what the log flagged.
arm_of = dict((unit, arm) for unit, arm, _ in stack.router.served)
canary = canary_served.assign(arm=canary_served["request_id"].map(arm_of))
canary_log = logged[on(CANARY_DAY, logged)].assign(arm=lambda f: f["request_id"].map(arm_of))
requests = canary.groupby("arm").size().reindex([champion, challenger], fill_value=0)
srm_p = chisquare(requests, f_exp=[(1 - course.CANARY_SHARE) * requests.sum(), course.CANARY_SHARE * requests.sum()]).pvalue
error_rate = canary.assign(error=canary["status"] != 200).groupby("arm")["error"].mean()
p99 = canary.groupby("arm")["seconds"].quantile(0.99)
alerts = canary_log.groupby("arm")["flagged"].agg(["sum", "count"]).loc[[challenger, champion]]
_, more_alerts_p = proportions_ztest(alerts["sum"].to_numpy(), alerts["count"].to_numpy(), alternative="larger")
if srm_p < SRM_ALPHA:
    supported = "hold"
elif error_rate[challenger] > error_rate[champion] or p99[challenger] > MAX_P99_SECONDS or more_alerts_p < GUARDRAIL_ALPHA:
    supported = "rollback"
else:  # quality: the frauds known by the decision, on the rows both models scored
    known = shadow_rows["is_fraud"].eq(1) & (shadow_rows["label_available_at"] <= DECIDED_ON)
    if known.sum() < MIN_POSITIVES:
        supported = "continue"
    else:  # the point estimate from scikit-learn; the interval is the comparison's bootstrap
        gain = average_precision_score(known, shadow_rows["shadow"]) - average_precision_score(known, shadow_rows["primary"])
        supported = "promote" if tonight.low > tonight.margin else "rollback" if tonight.high < tonight.margin else "continue"
        supported = supported if np.isclose(gain, tonight.gain) else "a comparison that does not match the data"

registry = MlflowClient("sqlite:///mlflow.db")
aliases = {alias: str(v) for alias, v in registry.get_registered_model("fraud-detector").aliases.items()}
acted_on = {
    "promote": aliases.get("champion") == version and stack.router.weights[challenger] == 1.0,
    "rollback": aliases.get("champion") == launch.version and stack.router.weights[challenger] == 0.0 and "challenger" not in aliases,
    "continue": aliases.get("champion") == launch.version and aliases.get("challenger") == version
    and stack.router.weights[challenger] == course.CANARY_SHARE,
    "hold": aliases.get("champion") == launch.version and stack.router.weights[challenger] == 0.0,
}
checks = {
    "every request answered": replayed["status"].eq(200).all(),
    "every payment logged once": logged["transaction_id"].is_unique and len(logged) == expected_payments,
    "the holdout is about 1% and never flagged": 0.005 < logged["holdout"].mean() < 0.02 and not holdout["flagged"].any(),
    f"the decision is what the data supports ({supported})": decision == supported,
    "the registry and the router show it": acted_on.get(decision, False),
}
for name, ok in checks.items():
    print(f"{'ok  ' if ok else 'FAIL'} {name}")
print("PASS" if all(checks.values()) else "FAIL")
print(report(["check_instance", "stable_bucket", "canary_decision"]))
# --8<-- [end:check]
