"""Small models for examples, tests and the demo.

Each model has ``input_shape`` (one example, without the batch dimension) and
``example_input(batch=2)`` so that any analysis can be tried on it at once.

Example:
    >>> import neuralscope
    >>> net = neuralscope.zoo.DigitsCNN()
    >>> net(net.example_input(4)).shape
    torch.Size([4, 10])
"""
from __future__ import annotations

import math

import torch
from torch import nn


class ZooModel(nn.Module):
    """Mixin: a model that knows what one input looks like."""

    input_shape: tuple[int, ...] = ()
    input_dtype: torch.dtype = torch.float32

    def example_input(self, batch: int = 2, seed: int = 0) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        if self.input_dtype == torch.long:
            return torch.randint(0, getattr(self, "vocab_size", 10), (batch, *self.input_shape), generator=g)
        return torch.rand((batch, *self.input_shape), generator=g)


class MLP(ZooModel):
    """A multi-layer perceptron for flattened 8x8 digits (64 features -> 10 classes)."""

    def __init__(self, in_features: int = 64, hidden: tuple[int, ...] = (128, 64), num_classes: int = 10):
        super().__init__()
        self.input_shape = (in_features,)
        layers: list[nn.Module] = []
        prev = in_features
        for h in hidden:
            layers += [nn.Linear(prev, h), nn.ReLU()]
            prev = h
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(prev, num_classes)

    def forward(self, x):
        return self.head(self.body(x.flatten(1)))


class DigitsCNN(ZooModel):
    """A convolutional network for 1x8x8 digits: three conv blocks, global average pooling
    and a linear head (so Grad-CAM on ``features`` equals CAM)."""

    input_shape = (1, 8, 8)

    def __init__(self, num_classes: int = 10, width: int = 32):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(2 * width, num_classes)

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)).flatten(1))


class RNNClassifier(ZooModel):
    """An LSTM or GRU that reads a digit row by row (8 steps of 8 pixels)."""

    def __init__(self, cell: str = "lstm", input_size: int = 8, hidden_size: int = 64,
                 num_layers: int = 1, num_classes: int = 10, seq_len: int = 8):
        super().__init__()
        if cell not in ("lstm", "gru"):
            raise ValueError(f"cell must be 'lstm' or 'gru', not {cell!r}.")
        self.input_shape = (seq_len, input_size)
        rnn = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = rnn(input_size, hidden_size, num_layers=num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, num_classes)

    def forward(self, x):
        if x.dim() == 4:  # (B, 1, 8, 8) digits -> (B, 8, 8) sequences of rows
            x = x.flatten(1, 2)
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


class TinyTransformer(ZooModel):
    """A small transformer encoder classifier over token ids, with a [CLS] token first.

    Built from ``nn.TransformerEncoderLayer`` (batch first), so the standard attention
    modules are in it.
    """

    input_dtype = torch.long

    def __init__(self, vocab_size: int = 100, d_model: int = 32, nhead: int = 4, num_layers: int = 2,
                 num_classes: int = 2, max_len: int = 64, seq_len: int = 12):
        super().__init__()
        self.vocab_size = vocab_size
        self.input_shape = (seq_len,)
        self.embed = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Parameter(torch.randn(max_len, d_model) * 0.02)
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward=2 * d_model, dropout=0.0,
                                           batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, num_classes)

    def forward(self, ids):
        h = self.embed(ids) * math.sqrt(self.embed.embedding_dim) + self.pos[: ids.shape[1]]
        h = self.encoder(h)
        return self.head(self.norm(h[:, 0]))


class ResidualBlock(nn.Module):
    """conv-bn-relu-conv-bn plus the input (projected when the shape changes), then ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(out_channels))

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(out + self.shortcut(x))


class TinyResNet(ZooModel):
    """A ResNet-style network for 1x8x8 digits: a stem and residual blocks with skips."""

    input_shape = (1, 8, 8)

    def __init__(self, num_classes: int = 10, width: int = 16):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        self.layer1 = nn.Sequential(ResidualBlock(width, width), ResidualBlock(width, width))
        self.layer2 = nn.Sequential(ResidualBlock(width, 2 * width, stride=2), ResidualBlock(2 * width, 2 * width))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2 * width, num_classes)

    def forward(self, x):
        x = self.layer2(self.layer1(self.stem(x)))
        return self.fc(self.pool(x).flatten(1))


class SignalCNN(ZooModel):
    """A 1-D convolutional network for multichannel signals ``(C, L)``: three Conv1d
    blocks, global average pooling over time and a linear head (so Grad-CAM on
    ``features`` equals CAM, upsampled to the signal length)."""

    def __init__(self, channels: int = 2, length: int = 128, num_classes: int = 2, width: int = 16):
        super().__init__()
        self.input_shape = (channels, length)
        self.features = nn.Sequential(
            nn.Conv1d(channels, width, 7, padding=3), nn.BatchNorm1d(width), nn.ReLU(),
            nn.Conv1d(width, width, 5, padding=2), nn.BatchNorm1d(width), nn.ReLU(),
            nn.MaxPool1d(2),
            nn.Conv1d(width, 2 * width, 5, padding=2), nn.BatchNorm1d(2 * width), nn.ReLU(),
        )
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.classifier = nn.Linear(2 * width, num_classes)

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)).flatten(1))


class TabularMLP(ZooModel):
    """An MLP for standardised tabular features (30 breast-cancer features -> 2 classes by
    default), with dropout between the hidden layers."""

    def __init__(self, in_features: int = 30, hidden: tuple[int, ...] = (64, 32), num_classes: int = 2,
                 dropout: float = 0.1):
        super().__init__()
        self.input_shape = (in_features,)
        layers: list[nn.Module] = []
        prev = in_features
        for h in hidden:
            layers += [nn.Linear(prev, h), nn.ReLU(), nn.Dropout(dropout)]
            prev = h
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(prev, num_classes)

    def forward(self, x):
        return self.head(self.body(x))


class SceneCNN(ZooModel):
    """A convolutional network for ``3 x size x size`` scenes (:mod:`neuralscope.data.scenes`):
    a strided 5x5 stem, three conv blocks (two max-pools), global average pooling and a
    linear head, so Grad-CAM on ``features`` (an 8x8 grid at 64x64) equals CAM. About 60k
    parameters; cheap enough to train on two CPU cores in a minute."""

    def __init__(self, num_classes: int = 4, width: int = 16, size: int = 64):
        super().__init__()
        self.input_shape = (3, size, size)

        def block(cin, cout, k=3, stride=1):
            return [nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2), nn.BatchNorm2d(cout), nn.ReLU()]

        w = width
        self.features = nn.Sequential(*block(3, w, 5, 2), nn.MaxPool2d(2), *block(w, 2 * w), nn.MaxPool2d(2),
                                      *block(2 * w, 4 * w), *block(4 * w, 4 * w))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(4 * w, num_classes)

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)).flatten(1))


class SceneViT(ZooModel):
    """A small hybrid vision transformer for scenes: a convolutional patch embedding (two
    conv blocks with max-pooling; early convolutions make ViTs train fast and stably, Xiao et
    al. 2021) turns a 64x64 scene into an 8x8 grid of patch tokens, a class token goes first,
    ``depth`` pre-norm ``nn.TransformerEncoderLayer`` blocks follow (so
    :func:`neuralscope.attention` reads every head, and the class token's rollout is a map
    over the 8x8 patches) and a linear head reads the class token."""

    def __init__(self, num_classes: int = 4, size: int = 64, dim: int = 48, depth: int = 2, heads: int = 4):
        super().__init__()
        self.input_shape = (3, size, size)
        self.patch_embed = nn.Sequential(
            nn.Conv2d(3, 16, 5, stride=2, padding=2), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, dim, 3, padding=1), nn.BatchNorm2d(dim), nn.ReLU(), nn.MaxPool2d(2))
        n = (size // 8) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, n + 1, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=2 * dim, dropout=0.0, batch_first=True,
                                           norm_first=True, activation="gelu")
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        tokens = self.patch_embed(x).flatten(2).transpose(1, 2)
        h = torch.cat([self.cls_token.expand(len(x), -1, -1), tokens], 1) + self.pos
        return self.head(self.norm(self.encoder(h))[:, 0])


ZOO = {
    "mlp": MLP,
    "cnn": DigitsCNN,
    "lstm": lambda: RNNClassifier("lstm"),
    "gru": lambda: RNNClassifier("gru"),
    "transformer": TinyTransformer,
    "resnet": TinyResNet,
    "scene_cnn": SceneCNN,
    "scene_vit": SceneViT,
}


#: DigitsCNN module name -> layer name of :func:`keras_digits_cnn`
KERAS_DIGITS_NAMES = {"features.0": "conv1", "features.1": "bn1", "features.2": "relu1", "features.3": "conv2",
                      "features.4": "bn2", "features.5": "relu2", "features.6": "pool1", "features.7": "conv3",
                      "features.8": "bn3", "features.9": "relu3", "pool": "pool", "classifier": "classifier"}


def keras_digits_cnn(torch_model: DigitsCNN | None = None, *, num_classes: int = 10, width: int = 32):
    """The :class:`DigitsCNN` built in Keras (channels last, ``(8, 8, 1)`` inputs), layer by
    layer (names in :data:`KERAS_DIGITS_NAMES`), holding ``torch_model``'s weights and BatchNorm
    statistics when one is given, so both compute the same function. Needs Keras.

    Example:
        >>> import numpy as np, torch
        >>> net = DigitsCNN().eval()
        >>> k = keras_digits_cnn(net)
        >>> x = torch.rand(2, 1, 8, 8)
        >>> bool(np.allclose(k(x.permute(0, 2, 3, 1).numpy()), net(x).detach().numpy(), atol=1e-5))
        True
    """
    from .adapters.keras import keras_module

    keras = keras_module()
    L = keras.layers

    def block(i: int, filters: int) -> list:
        return [L.Conv2D(filters, 3, padding="same", name=f"conv{i}"),
                L.BatchNormalization(epsilon=1e-5, momentum=0.9, name=f"bn{i}"), L.ReLU(name=f"relu{i}")]

    model = keras.Sequential([keras.Input((8, 8, 1), name="digit"), *block(1, width), *block(2, width),
                              L.MaxPooling2D(2, name="pool1"), *block(3, 2 * width),
                              L.GlobalAveragePooling2D(name="pool"), L.Dense(num_classes, name="classifier")],
                             name="digits_cnn")
    if torch_model is not None:
        f = torch_model.features
        for i, (conv, bn) in enumerate(((f[0], f[1]), (f[3], f[4]), (f[7], f[8])), start=1):
            w = conv.weight.detach().cpu().numpy()
            model.get_layer(f"conv{i}").set_weights([w.transpose(2, 3, 1, 0), conv.bias.detach().cpu().numpy()])
            model.get_layer(f"bn{i}").set_weights([t.detach().cpu().numpy() for t in
                                                   (bn.weight, bn.bias, bn.running_mean, bn.running_var)])
        head = torch_model.classifier
        model.get_layer("classifier").set_weights([head.weight.detach().cpu().numpy().T,
                                                   head.bias.detach().cpu().numpy()])
    return model


def create(name: str) -> ZooModel:
    """A fresh zoo model by short name: ``mlp cnn lstm gru transformer resnet scene_cnn scene_vit``."""
    if name not in ZOO:
        from .errors import LayerNotFoundError

        raise LayerNotFoundError(name, list(ZOO), what="zoo model")
    return ZOO[name]()


__all__ = ["MLP", "DigitsCNN", "RNNClassifier", "TinyTransformer", "ResidualBlock", "TinyResNet",
           "SignalCNN", "TabularMLP", "SceneCNN", "SceneViT", "ZooModel", "ZOO", "create", "keras_digits_cnn",
           "KERAS_DIGITS_NAMES"]
