"""A multi-layer perceptron in PyTorch behind the scikit-learn estimator interface.

Every hyperparameter is an explicit keyword of ``__init__`` and ``fit`` returns ``self``, so the
model works inside scikit-learn pipelines, with ``get_params``/``set_params`` and with MLflow's
sklearn flavor. Training is deterministic for a given ``random_state``.
"""

from typing import Optional, Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import unique_labels

__all__ = ["TorchMLPClassifier", "TorchMLPRegressor"]


def _network(n_inputs: int, hidden: Sequence[int], n_outputs: int, dropout: float):
    import torch.nn as nn

    layers: list = []
    width = n_inputs
    for size in hidden:
        layers += [nn.Linear(width, int(size)), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = int(size)
    layers.append(nn.Linear(width, n_outputs))
    return nn.Sequential(*layers)


class _TorchMLPBase(BaseEstimator):
    def __init__(
        self,
        hidden_layer_sizes: Sequence[int] = (64, 32),
        learning_rate: float = 1e-3,
        max_epochs: int = 60,
        batch_size: int = 128,
        weight_decay: float = 1e-4,
        dropout: float = 0.0,
        random_state: Optional[int] = None,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.learning_rate = learning_rate
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.dropout = dropout
        self.random_state = random_state

    def _train(self, features: np.ndarray, targets: np.ndarray, n_outputs: int, loss_fn) -> None:
        import torch

        generator = torch.Generator().manual_seed(int(self.random_state or 0))
        torch.manual_seed(int(self.random_state or 0))
        inputs = torch.as_tensor(np.asarray(features, dtype=np.float32))
        self.n_features_in_ = inputs.shape[1]
        self.module_ = _network(self.n_features_in_, self.hidden_layer_sizes, n_outputs,
                                float(self.dropout))
        optimizer = torch.optim.Adam(self.module_.parameters(), lr=float(self.learning_rate),
                                     weight_decay=float(self.weight_decay))
        self.module_.train()
        rows = inputs.shape[0]
        batch = max(1, int(self.batch_size))
        for _epoch in range(int(self.max_epochs)):
            order = torch.randperm(rows, generator=generator)
            for start in range(0, rows, batch):
                index = order[start:start + batch]
                optimizer.zero_grad()
                loss = loss_fn(self.module_(inputs[index]), targets[index])
                loss.backward()
                optimizer.step()
        self.module_.eval()

    def _forward(self, features: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            inputs = torch.as_tensor(np.asarray(features, dtype=np.float32))
            return self.module_(inputs).numpy()


class TorchMLPRegressor(RegressorMixin, _TorchMLPBase):
    """MLP regressor (mean squared error, Adam)."""

    def fit(self, X, y) -> "TorchMLPRegressor":
        """Train on ``X`` (numeric matrix) and ``y``; returns self."""
        import torch

        targets = np.asarray(y, dtype=np.float32).reshape(-1, 1)
        self.y_mean_ = float(targets.mean())
        self.y_scale_ = float(targets.std()) or 1.0
        scaled = torch.as_tensor((targets - self.y_mean_) / self.y_scale_)
        self._train(X, scaled, 1, torch.nn.functional.mse_loss)
        return self

    def predict(self, X) -> np.ndarray:
        """Predicted values, shape (n_rows,)."""
        return self._forward(X)[:, 0] * self.y_scale_ + self.y_mean_


class TorchMLPClassifier(ClassifierMixin, _TorchMLPBase):
    """MLP classifier (cross entropy, Adam) with ``predict_proba``."""

    def fit(self, X, y) -> "TorchMLPClassifier":
        """Train on ``X`` (numeric matrix) and class labels ``y``; returns self."""
        import torch

        self.classes_ = unique_labels(y)
        codes = np.searchsorted(self.classes_, np.asarray(y))
        self._train(X, torch.as_tensor(codes, dtype=torch.long), len(self.classes_),
                    torch.nn.functional.cross_entropy)
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape (n_rows, n_classes)."""
        logits = self._forward(X)
        logits = logits - logits.max(axis=1, keepdims=True)
        weights = np.exp(logits)
        return weights / weights.sum(axis=1, keepdims=True)

    def predict(self, X) -> np.ndarray:
        """Most probable class for each row."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
