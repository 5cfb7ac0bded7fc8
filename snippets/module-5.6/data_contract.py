from cardfraud import DataQualityFaults, generate
from cardfraud.checks import data_problems

clean = generate(days=7, transactions_per_day=1_000)
broken = generate(days=7, transactions_per_day=1_000, drifts=[DataQualityFaults(start="2026-01-08")])
print("clean batch:", data_problems(clean) or "fit to train on")
for problem in data_problems(broken):
    print("broken batch:", problem)
