"""The action-conditioned JEPA world model: an Impala-style encoder, a predictor of the next
embedding, an inverse-dynamics head, and the loss terms of its training objective; and its
pixel-space baseline, the same encoder and predictor with a frame decoder.

Shapes: B batch, T time, K rollout steps, N samples of a statistic, D embedding size, A action
size (2), C/S channels and side of the encoder's input.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dreamlab.envs.two_rooms import IMAGE_SIZE, clip_action
from dreamlab.errors import DreamlabError
from dreamlab.types import State, StepOut

__all__ = [
    "FrameDecoder",
    "GRUPredictor",
    "ImpalaEncoder",
    "InverseDynamics",
    "JEPAWorldModel",
    "MLPPredictor",
    "PixelWorldModel",
    "covariance_loss",
    "idm_loss",
    "multi_step_predictions",
    "prediction_loss",
    "prepare_frames",
    "time_similarity_loss",
    "variance_loss",
]

ACTION_DIM = 2
CROPPED = IMAGE_SIZE - 1  # 64: the last row and column lie inside the solid border


# ----------------------------------------------------------------------------- frames


def prepare_frames(obs: Tensor, obs_mode: str, size: int) -> Tensor:
    """Two-Rooms frames as the encoder's uint8 input [B, C, S, S].

    ``obs`` is what the environment gives, uint8 [B, 2, 65, 65] (``"2ch"``) or [B, 65, 65, 3]
    (``"rgb"``), or frames already prepared, [B, C, S, S]. The 65-pixel frame drops its last row
    and column, which are always solid border, then is average-pooled by 64 / S and rounded, so
    training data and planning observations pass through exactly the same numbers.
    """
    if obs.dim() != 4:
        raise DreamlabError(
            f"frames must be [B, ...] with 3 dims per frame, got {tuple(obs.shape)}"
        )
    channels = 2 if obs_mode == "2ch" else 3
    if obs_mode == "rgb" and obs.shape[-1] == 3 and obs.shape[1] != 3:
        obs = obs.permute(0, 3, 1, 2)  # [B, 3, 65, 65]
    if obs.shape[1] != channels or obs.shape[2] != obs.shape[3]:
        raise DreamlabError(
            f"expected {obs_mode} frames with {channels} channels, got {tuple(obs.shape)}"
        )
    if obs.shape[-1] == size:
        return obs.to(torch.uint8)
    if obs.shape[-1] != IMAGE_SIZE:
        raise DreamlabError(f"frames must be {IMAGE_SIZE} or {size} pixels, got {obs.shape[-1]}")
    x = obs[..., :CROPPED, :CROPPED].float()  # [B, C, 64, 64]
    if size != CROPPED:
        x = F.avg_pool2d(x, CROPPED // size)  # [B, C, S, S]
    return x.add_(0.5).floor_().clamp_(0, 255).to(torch.uint8)


# ----------------------------------------------------------------------------- networks


class _Residual(nn.Module):
    """Impala's residual block: x + conv(relu(conv(relu(x))))."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class ImpalaEncoder(nn.Module):
    """Frames float [B, C, S, S] in [0, 1] -> embeddings [B, D] (Espeholt et al. 2018's CNN).

    Each stage is conv 3x3, max-pool 3x3 stride 2 and ``res_blocks`` residual blocks; the last
    feature map is flattened and mapped linearly to one flat embedding per frame.
    """

    def __init__(
        self,
        in_channels: int,
        size: int,
        channels: tuple[int, ...],
        res_blocks: int,
        dim: int,
        final_norm: bool = False,
    ) -> None:
        super().__init__()
        # Per-channel input standardisation (identity until set_input_stats): in Two-Rooms the
        # dot covers ~1% of its channel, so unscaled it is a whisper next to the walls.
        self.register_buffer("input_mean", torch.zeros(in_channels))
        self.register_buffer("input_std", torch.ones(in_channels))
        layers: list[nn.Module] = []
        prev, side = in_channels, size
        for ch in channels:
            layers += [nn.Conv2d(prev, ch, 3, padding=1), nn.MaxPool2d(3, stride=2, padding=1)]
            layers += [_Residual(ch) for _ in range(res_blocks)]
            prev, side = ch, (side + 1) // 2
        self.stages = nn.Sequential(*layers)
        self.head = nn.Linear(prev * side * side, dim)
        self.norm = nn.LayerNorm(dim) if final_norm else nn.Identity()

    @torch.no_grad()
    def set_input_stats(self, frames: Tensor) -> None:
        """Standardise every channel with its mean and std over ``frames`` [N, C, S, S] in [0, 1]."""
        self.input_mean.copy_(frames.mean(dim=(0, 2, 3)))
        self.input_std.copy_(frames.std(dim=(0, 2, 3)).clamp(min=1e-3))

    def forward(self, x: Tensor) -> Tensor:
        x = (x - self.input_mean[:, None, None]) / self.input_std[:, None, None]
        h = F.relu(self.stages(x))  # [B, C', S', S']
        return self.norm(self.head(h.flatten(1)))  # [B, D]


class GRUPredictor(nn.Module):
    """e_{t+1} = e_t + W h, where h is a two-layer GRU stepped once on [e_t, a_t] with hidden
    states initialised from e_t (a linear map per layer).

    The state stays the embedding alone, so planning needs nothing else; the residual output
    lets embeddings take any scale, which a GRU's own hidden state (pulled into (-1, 1)) cannot.
    """

    def __init__(self, dim: int, action_dim: int, hidden: int, layers: int = 2) -> None:
        super().__init__()
        self.layers = layers
        self.init = nn.Linear(dim, hidden * layers)
        self.cells = nn.ModuleList(
            nn.GRUCell(dim + action_dim if i == 0 else hidden, hidden) for i in range(layers)
        )
        self.out = nn.Linear(hidden, dim)
        # Start as the identity map: the first predictions are "nothing moves".
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, e: Tensor, a: Tensor) -> Tensor:
        """Embeddings [N, D] and actions [N, A] -> next embeddings [N, D]."""
        hidden = self.init(e).chunk(self.layers, dim=-1)  # layers x [N, hidden]
        x = torch.cat([e, a], dim=-1)
        for cell, h in zip(self.cells, hidden, strict=True):
            x = cell(x, h)
        return e + self.out(x)


class MLPPredictor(nn.Module):
    """e_{t+1} = e_t + MLP([e_t, a_t]), two hidden ReLU layers; starts as the identity map."""

    def __init__(self, dim: int, action_dim: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim + action_dim, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, dim),
        )
        last = self.net[-1]
        assert isinstance(last, nn.Linear)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(self, e: Tensor, a: Tensor) -> Tensor:
        """Embeddings [N, D] and actions [N, A] -> next embeddings [N, D]."""
        return e + self.net(torch.cat([e, a], dim=-1))


class InverseDynamics(nn.Module):
    """The inverse-dynamics head: a_t [N, A] from (e_t, e_{t+1}), each [N, D]."""

    def __init__(self, dim: int, hidden: int, action_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(2 * dim, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, action_dim),
        )

    def forward(self, e: Tensor, e_next: Tensor) -> Tensor:
        """Predicted actions [..., A] for embedding pairs [..., D]."""
        return self.net(torch.cat([e, e_next], dim=-1))


class _LatentDynamics(nn.Module):
    """What the JEPA model and its pixel baseline share: the Impala encoder, the predictor of the
    next latent and the WorldModel methods around them (``State.z`` is the latent [B, D])."""

    def __init__(
        self,
        obs_mode: str,
        image_size: int,
        channels: tuple[int, ...],
        res_blocks: int,
        embed_dim: int,
        predictor: str,
        predictor_hidden: int,
        final_norm: bool = False,
    ) -> None:
        super().__init__()
        if obs_mode not in ("2ch", "rgb"):
            raise DreamlabError(f"obs_mode must be '2ch' or 'rgb', got {obs_mode!r}")
        if image_size not in (16, 32, 64):
            raise DreamlabError(f"image_size must be 16, 32 or 64, got {image_size}")
        self.obs_mode, self.image_size, self.embed_dim = obs_mode, image_size, embed_dim
        self.in_channels = 2 if obs_mode == "2ch" else 3
        self.encoder = ImpalaEncoder(
            self.in_channels, image_size, channels, res_blocks, embed_dim, final_norm
        )
        self.predictor: nn.Module
        if predictor == "gru":
            self.predictor = GRUPredictor(embed_dim, ACTION_DIM, predictor_hidden)
        elif predictor == "mlp":
            self.predictor = MLPPredictor(embed_dim, ACTION_DIM, predictor_hidden)
        else:
            raise DreamlabError(f"predictor must be 'gru' or 'mlp', got {predictor!r}")

    def encode(self, obs: Tensor) -> Tensor:
        """Frames [B, ...] (uint8 from the env or prepared, or float prepared in [0, 1]) -> [B, D]."""
        if obs.dtype == torch.uint8:
            x = prepare_frames(obs, self.obs_mode, self.image_size).float() / 255.0
        else:
            x = obs.float()
        return self.encoder(x)

    def predict(self, e: Tensor, action: Tensor) -> Tensor:
        """The next latent [N, D] of latents [N, D] under actions [N, 2]."""
        # The encoder's final norm (if any) also ends every prediction, as in EB-JEPA.
        return self.encoder.norm(self.predictor(e, clip_action(action.to(e.dtype))))

    # the WorldModel contract
    def initial(self, obs: Tensor) -> State:
        """Encode frames [B, ...] into states with z = latent [B, D]."""
        return State(z=self.encode(obs))

    def step(self, state: State, action: Tensor) -> tuple[State, StepOut]:
        """One imagined step: z [B, D] -> z' [B, D]; reward 0 and cont 1, each [B]."""
        z = self.predict(state.z, action)
        zeros = torch.zeros(state.batch_size, dtype=z.dtype, device=z.device)
        return State(z=z), StepOut(reward=zeros, cont=zeros + 1)

    def observe(self, state: State, action: Tensor, obs: Tensor) -> State:
        """No belief is kept: the new frame's latent replaces the state."""
        return self.initial(obs)


class JEPAWorldModel(_LatentDynamics):
    """Encoder, predictor and inverse-dynamics head; a dreamlab ``WorldModel``.

    ``State.z`` is the embedding [B, D]. ``initial`` encodes frames (the environment's uint8
    layout or prepared [B, C, S, S]); ``step`` predicts the next embedding for actions [B, 2],
    which are first scaled to norm <= 1 exactly as the environment does. Reward is 0 and cont 1:
    planners score states by their embedding's distance to a goal embedding, never a reward.
    """

    def __init__(
        self,
        obs_mode: str,
        image_size: int,
        channels: tuple[int, ...],
        res_blocks: int,
        embed_dim: int,
        predictor: str,
        predictor_hidden: int,
        idm_hidden: int,
        final_norm: bool = False,
    ) -> None:
        super().__init__(
            obs_mode,
            image_size,
            channels,
            res_blocks,
            embed_dim,
            predictor,
            predictor_hidden,
            final_norm,
        )
        self.idm = InverseDynamics(embed_dim, idm_hidden, ACTION_DIM)

    def decode(self, state: State) -> Tensor:
        """Not available: the model has no decoder, by design."""
        raise DreamlabError("the JEPA world model has no decoder: it predicts embeddings only")


class FrameDecoder(nn.Module):
    """Latents [B, D] -> frames [B, C, S, S] in (0, 1).

    A linear map to a feature map of ``channels[0]`` x S / 2^n x S / 2^n (n = ``len(channels)``,
    the encoder's number of halvings), then n sub-pixel stages (Shi et al. 2016): ReLU, a 1x1
    convolution to 4 x the next channel count, pixel shuffle to twice the side. The last stage
    gives the C image channels, squashed by a sigmoid. Sub-pixel stages are used rather than
    transposed convolutions because they are several times faster on a CPU, and planning in pixel
    space decodes every imagined step of every candidate.
    """

    def __init__(self, dim: int, out_channels: int, size: int, channels: tuple[int, ...]) -> None:
        super().__init__()
        stages = len(channels)
        if stages < 1 or size % 2**stages:
            raise DreamlabError(
                f"a frame of {size} pixels cannot be decoded in {stages} doublings; give "
                "decoder_channels one entry per encoder stage"
            )
        self.start, self.side = channels[0], size // 2**stages
        self.inp = nn.Linear(dim, channels[0] * self.side * self.side)
        outs = (*channels[1:], out_channels)
        self.stages = nn.ModuleList(
            nn.Conv2d(c_in, 4 * c_out, kernel_size=1)
            for c_in, c_out in zip(channels, outs, strict=True)
        )

    def forward(self, e: Tensor) -> Tensor:
        """Latents [B, D] -> frames [B, C, S, S]."""
        x = self.inp(e).reshape(-1, self.start, self.side, self.side)  # [B, C0, S0, S0]
        for conv in self.stages:
            x = F.pixel_shuffle(conv(F.relu(x)), 2)  # [B, C_next, 2 S_i, 2 S_i]
        return torch.sigmoid(x)


class PixelWorldModel(_LatentDynamics):
    """The pixel-space baseline: the JEPA model's encoder and predictor, with a decoder in place
    of the inverse-dynamics head, trained to reconstruct the current and predicted frames.

    ``State.z`` is the autoencoder's latent [B, D]; ``decode`` renders states as prepared frames
    [B, C, S, S] in (0, 1), which is all a pixel-space planning cost may read.
    """

    def __init__(
        self,
        obs_mode: str,
        image_size: int,
        channels: tuple[int, ...],
        res_blocks: int,
        embed_dim: int,
        predictor: str,
        predictor_hidden: int,
        decoder_channels: tuple[int, ...],
        final_norm: bool = False,
    ) -> None:
        super().__init__(
            obs_mode,
            image_size,
            channels,
            res_blocks,
            embed_dim,
            predictor,
            predictor_hidden,
            final_norm,
        )
        if len(decoder_channels) != len(channels):
            raise DreamlabError(
                f"decoder_channels needs one entry per encoder stage ({len(channels)}), "
                f"got {decoder_channels}"
            )
        self.decoder = FrameDecoder(embed_dim, self.in_channels, image_size, decoder_channels)

    def decode(self, state: State) -> Tensor:
        """The frames of states: z [B, D] -> [B, C, S, S] in (0, 1)."""
        return self.decoder(state.z)


# ----------------------------------------------------------------------------- losses


def multi_step_predictions(
    predict: Callable[[Tensor, Tensor], Tensor], e: Tensor, actions: Tensor, steps: int
) -> list[Tensor]:
    """Roll the predictor from every frame: k = 1..K predictions of e_{t+k} from e_t.

    ``e`` [B, T, D] are the encoder's embeddings, ``actions`` [B, T - 1, A] with a_t leading from
    frame t to t + 1. Element k - 1 of the result is [B, T - k, D]; its index t predicts e_{t+k}
    from e_t by k autoregressive steps (only the first step sees a real embedding).
    """
    b, t, d = e.shape
    if actions.shape[:2] != (b, t - 1):
        raise ValueError(f"actions must be [B, T - 1, A] = [{b}, {t - 1}, A], got {actions.shape}")
    out: list[Tensor] = []
    pred = e
    for k in range(1, min(steps, t - 1) + 1):
        start, act = pred[:, : t - k], actions[:, k - 1 :]  # [B, T - k, D], [B, T - k, A]
        pred = predict(start.reshape(-1, d), act.reshape(-1, act.shape[-1])).reshape(b, t - k, d)
        out.append(pred)
    return out


def prediction_loss(predictions: list[Tensor], target: Tensor) -> Tensor:
    """Mean over k of the MSE between k-step predictions [B, T - k, D] and target [B, T, D]
    at frames k.. T - 1. Whether ``target`` carries gradient is the caller's choice."""
    if not predictions:
        raise ValueError("prediction_loss needs at least one rollout step")
    terms = [F.mse_loss(p, target[:, k:]) for k, p in enumerate(predictions, start=1)]
    return torch.stack(terms).mean()


def variance_loss(x: Tensor, gamma: float = 1.0, eps: float = 1e-4) -> Tensor:
    """VICReg's variance hinge: mean of relu(gamma - sqrt(Var + eps)) over dimensions.

    ``x`` is [..., N, D]: the statistics are over N, separately for every leading index (a time
    step), and the result is their mean. ~0 when every dimension has std >= gamma; ~gamma for a
    collapsed batch.
    """
    std = torch.sqrt(x.var(dim=-2) + eps)  # [..., D]
    return F.relu(gamma - std).mean()


def covariance_loss(x: Tensor) -> Tensor:
    """VICReg's covariance term: mean squared off-diagonal entry of the covariance over N.

    ``x`` is [..., N, D]; the covariance [..., D, D] is taken over N (unbiased) for every leading
    index and the squared off-diagonal entries are averaged over D (D - 1) and the leading indices.
    """
    n, d = x.shape[-2], x.shape[-1]
    centred = x - x.mean(dim=-2, keepdim=True)
    cov = centred.transpose(-1, -2) @ centred / (n - 1)  # [..., D, D]
    off = cov - torch.diag_embed(torch.diagonal(cov, dim1=-2, dim2=-1))
    return off.square().sum(dim=(-2, -1)).mean() / (d * (d - 1))


def time_similarity_loss(e: Tensor) -> Tensor:
    """Mean squared difference of consecutive embeddings [B, T, D]: a smooth path in time."""
    return (e[:, 1:] - e[:, :-1]).square().mean()


def idm_loss(predicted: Tensor, actions: Tensor) -> Tensor:
    """MSE between the inverse-dynamics head's actions [B, T - 1, A] and the taken ones."""
    return F.mse_loss(predicted, actions)
