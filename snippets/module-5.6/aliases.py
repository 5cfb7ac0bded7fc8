import os

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from mlflow import MlflowClient

MODEL = "fraud-detector"
client = MlflowClient("sqlite:///mlflow.db")
client.create_registered_model(MODEL)
# Three versions. Their sources are placeholders: the registry stores pointers and
# metadata, so moving an alias never copies or reloads a model.
for pr_auc in (0.74, 0.71, 0.78):
    client.create_model_version(MODEL, source=f"mlartifacts/fraud/{pr_auc}", tags={"pr_auc": str(pr_auc)})


def champion() -> str:
    version = client.get_model_version_by_alias(MODEL, "champion")
    return f"v{version.version} (PR-AUC {version.tags['pr_auc']})"


def promote(version: str) -> None:
    """Move @champion to ``version``, remembering who held it for a rollback."""
    previous = client.get_registered_model(MODEL).aliases.get("champion")
    client.set_model_version_tag(MODEL, version, "previous_champion", str(previous or "none"))
    client.set_registered_model_alias(MODEL, "champion", version)


def rollback() -> None:
    current = client.get_model_version_by_alias(MODEL, "champion")
    client.set_registered_model_alias(MODEL, "champion", current.tags["previous_champion"])


promote("1")
print("champion:", champion())
promote("3")  # v2 lost the gate and was never promoted; v3 won it
print("after promoting v3:", champion())
rollback()    # v3 misbehaves in production: serving follows the alias back
print("after rollback:", champion())
print("aliases:", client.get_registered_model(MODEL).aliases)
