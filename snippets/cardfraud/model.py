"""The course's fraud model: a scikit-learn pipeline over ``cardfraud.features``.

Modules that need "a trained model" call ``train`` instead of repeating the
training code: module 5.3 tunes and registers it, 5.4 serves it, 5.5 monitors
it, 5.6 retrains it in a pipeline.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder

from cardfraud.features import CATEGORICAL_COLUMNS, FEATURE_COLUMNS

DEFAULT_PARAMS = {"learning_rate": 0.1, "max_iter": 200, "max_leaf_nodes": 31, "l2_regularization": 0.0}


def make_pipeline(seed: int = 0, **params) -> Pipeline:
    """Ordinal-encode the categorical columns and fit gradient-boosted trees.

    Categories unseen in training are encoded as -1, which the trees treat as
    missing, so a new merchant category does not crash scoring.
    """
    encode = ColumnTransformer(
        [
            (
                "categories",
                OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1),
                CATEGORICAL_COLUMNS,
            )
        ],
        remainder="passthrough",
        verbose_feature_names_out=False,
    )
    n_categorical = len(CATEGORICAL_COLUMNS)
    trees = HistGradientBoostingClassifier(
        **{**DEFAULT_PARAMS, **params},
        categorical_features=list(range(n_categorical)),
        early_stopping=False,
        random_state=seed,
    )
    return Pipeline([("encode", encode), ("trees", trees)])


def train(features: pd.DataFrame, seed: int = 0, **params) -> Pipeline:
    """Fit the pipeline on rows of ``cardfraud.features.build_features``."""
    return make_pipeline(seed, **params).fit(features[FEATURE_COLUMNS], features["is_fraud"])


def score(model: Pipeline, features: pd.DataFrame) -> np.ndarray:
    """Fraud probability for each row."""
    return model.predict_proba(features[FEATURE_COLUMNS])[:, 1]


def evaluate(model: Pipeline, features: pd.DataFrame) -> dict[str, float]:
    """PR-AUC (the metric that matters for rare fraud) and ROC-AUC, rounded for printing."""
    scores = score(model, features)
    return {
        "pr_auc": round(float(average_precision_score(features["is_fraud"], scores)), 4),
        "roc_auc": round(float(roc_auc_score(features["is_fraud"], scores)), 4),
    }


def split_by_time(features: pd.DataFrame, cutoff: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows before ``cutoff`` (UTC) for training, the rest for evaluation: never a random split."""
    at = pd.Timestamp(cutoff, tz="UTC")
    before = features["event_timestamp"] < at
    return features[before], features[~before]
