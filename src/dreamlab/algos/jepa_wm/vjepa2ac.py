"""The V-JEPA 2-AC recipe on Two-Rooms (Assran et al. 2025, "V-JEPA 2"): a frame encoder
pretrained with V-JEPA's objective and then frozen, and a block-causal, action-conditioned
transformer that predicts the next frame's tokens.

- ``FrameViT``: a ViT over ``patch`` x ``patch`` patches of frames (tubelets one frame long),
  with fixed 3D sin-cos positions over a clip. Pretrained on random-walk clips with V-JEPA's
  objective (``vjepa_loss`` on the shared ``dreamlab.nn.video_masks`` tube masks: the context
  encoder's tokens predict the layer-normed tokens of its EMA copy on masked tubes, L1); the EMA
  copy is the frozen encoder afterwards.
- ``frame_tokens`` (``ACWorldModel.encode``): each frame is encoded on its own, as V-JEPA 2-AC
  encodes each frame of a robot video, and its P patch tokens are average-pooled to
  ``pool`` x ``pool`` tokens, then layer-normed.
- ``ACPredictor``: per frame t the tokens [action a_t, the n frame tokens of z_t]; frame t's
  tokens attend to every token of the same and earlier frames (block-causal; optionally only
  the last W frames) and its frame-token outputs predict z_{t+1}. ``forward`` is the
  teacher-forced form over a whole sequence; ``step`` is the same computation one frame at a
  time, carrying the layer-normed inputs of the last M frames (a memory of fixed size, so a
  planner's state keeps one shape along the horizon; with M >= T - 1 it reproduces
  ``forward`` exactly, with fewer it forgets frames further back).
- ``ac_losses``: teacher-forced L1 plus the L1 of an autoregressive rollout from the first frame.

Shapes: B batch, T frames, C/S channels and side of a prepared frame, P patches of a frame,
K kept tokens, n tokens of a frame after pooling, p = n + 1 tokens per frame in the predictor,
D encoder width, Dp predictor width, L predictor blocks, W attention window and M memory in
frames.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dreamlab.algos.jepa_wm.model import prepare_frames
from dreamlab.envs.two_rooms import clip_action
from dreamlab.errors import DreamlabError
from dreamlab.nn.video_masks import VideoMasks
from dreamlab.nn.vit import Block, Predictor, gather_tokens, sincos_2d, sincos_3d, vit_init
from dreamlab.types import State, StepOut

__all__ = [
    "LONG_MASK",
    "SHORT_MASK",
    "ACPredictor",
    "ACWorldModel",
    "FrameViT",
    "ac_losses",
    "vjepa_loss",
]

SHORT_MASK = (8, 0.15)
"""V-JEPA's short-range mask set (blocks, scale for ``sample_video_masks``): the union of 8
blocks, each 15% of a frame, over the whole clip."""
LONG_MASK = (2, 0.7)
"""V-JEPA's long-range mask set: the union of 2 blocks, each 70% of a frame."""


# ----------------------------------------------------------------------------- the encoder


class FrameViT(nn.Module):
    """A ViT over clips of up to ``clip`` frames [B, T, C, S, S] in [0, 1]: each frame is cut into
    ``patch`` x ``patch`` patches (tubelets one frame long), tokens carry fixed 3D sin-cos
    positions (time slowest, raster order) and attend to every token of the clip."""

    pos: Tensor  # fixed sin-cos embeddings [clip * P, D], a buffer

    def __init__(
        self,
        in_channels: int,
        image_size: int,
        patch: int,
        clip: int,
        dim: int,
        depth: int,
        heads: int,
        mlp_ratio: float = 4.0,
    ) -> None:
        super().__init__()
        if image_size % patch:
            raise DreamlabError(
                f"frames of {image_size} pixels do not split into {patch}-pixel patches"
            )
        if dim % 8 or dim % heads:
            raise DreamlabError(
                f"the ViT width {dim} must be divisible by 8 and by its {heads} heads"
            )
        self.clip, self.dim = clip, dim
        self.grid = (image_size // patch, image_size // patch)
        self.embed = nn.Conv2d(in_channels, dim, kernel_size=patch, stride=patch)
        self.register_buffer("pos", sincos_3d(clip, *self.grid, dim), persistent=False)
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.apply(vit_init)

    @property
    def patches(self) -> int:
        """P, the patches of one frame."""
        return self.grid[0] * self.grid[1]

    def forward(self, x: Tensor, keep: Tensor | None = None) -> Tensor:
        """Clips [B, T, C, S, S] -> tokens [B, T * P, D], or [B, K, D] for token indices ``keep``
        [B, K]: the other tokens are dropped before the first block, so nothing of them reaches
        the output."""
        b, t = x.shape[:2]
        if t > self.clip:
            raise DreamlabError(f"the ViT takes clips of at most {self.clip} frames, got {t}")
        tokens = self.embed(x.flatten(0, 1)).flatten(2).transpose(1, 2)  # [B * T, P, D]
        tokens = tokens.reshape(b, t * self.patches, self.dim) + self.pos[: t * self.patches]
        if keep is not None:
            tokens = gather_tokens(tokens, keep)  # [B, K, D]
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens)

    def encode(self, obs: Tensor) -> Tensor:
        """The ``Encoder`` contract: frames [N, C, S, S], each a clip of its own -> [N, P, D]."""
        return self(obs.unsqueeze(1))


# ----------------------------------------------------------------------------- V-JEPA pretraining


def vjepa_loss(
    encoder: FrameViT,
    predictor: Predictor,
    target_encoder: FrameViT,
    clips: Tensor,
    mask_sets: list[VideoMasks],
) -> Tensor:
    """V-JEPA's loss on clips [B, T, C, S, S]: for each mask set, the L1 distance between the
    predictor's outputs at the masked tokens (from the context encoder's tokens of the rest) and
    the target encoder's layer-normed tokens there; averaged over the mask sets."""
    with torch.no_grad():
        target = target_encoder(clips)  # [B, T * P, D], every token
        target = F.layer_norm(target, target.shape[-1:])
    losses = []
    for masks in mask_sets:
        s_x = encoder(clips, keep=masks.context)  # [B, Nc, D]: the context tokens only
        pred = predictor(s_x, masks.context, masks.target[:, None])[:, 0]  # [B, Nt, D]
        losses.append((pred - gather_tokens(target, masks.target)).abs().mean())
    return torch.stack(losses).mean()


# ----------------------------------------------------------------------------- the predictor


class _CausalBlock(nn.Module):
    """A pre-norm transformer block whose queries are the new tokens and whose keys and values
    are earlier tokens (given already layer-normed) followed by the new ones, under an additive
    attention mask (-inf where a query may not look)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: Tensor, past: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """New tokens x [B, Lq, Dp], earlier normed tokens ``past`` [B, Lp, Dp], ``mask``
        broadcastable to [B, heads, Lq, Lp + Lq] -> (new x [B, Lq, Dp], normed x [B, Lq, Dp])."""
        b, lq, d = x.shape
        y = self.norm1(x)
        q, k, v = self.qkv(y).chunk(3, dim=-1)  # each [B, Lq, Dp]
        if past.shape[1]:
            # Only keys and values of the earlier tokens: the slices of the same projection.
            pk, pv = F.linear(past, self.qkv.weight[d:], self.qkv.bias[d:]).chunk(2, dim=-1)
            k, v = torch.cat([pk, k], dim=1), torch.cat([pv, v], dim=1)  # [B, Lp + Lq, Dp]

        def heads(t: Tensor) -> Tensor:
            return t.reshape(b, t.shape[1], self.heads, d // self.heads).transpose(1, 2)

        # Written out rather than F.scaled_dot_product_attention: on a CPU it is ~30% faster
        # for the few tokens per step of planning.
        scores = heads(q) @ heads(k).transpose(-1, -2) * (d // self.heads) ** -0.5 + mask
        att = scores.softmax(dim=-1) @ heads(v)  # [B, heads, Lq, Dp / heads]
        x = x + self.proj(att.transpose(1, 2).reshape(b, lq, d))  # [B, Lq, Dp]
        return x + self.mlp(self.norm2(x)), y


class ACPredictor(nn.Module):
    """V-JEPA 2-AC's action-conditioned predictor, block-causal over frames.

    Tokens of frame t: a linear embedding of a_t plus a learned action-type vector, then the n
    frame tokens of z_t (linear from D to Dp, plus fixed 2D sin-cos positions of the pooled
    grid). Frame t's tokens attend to every token of frames t - W + 1 .. t (``window`` W; None:
    every earlier frame), with a learned bias per head and frame offset (offsets up to
    ``max_frames`` - 1); the outputs at frame t's frame tokens, mapped back to D and layer-normed
    (the targets are layer-normed too), predict z_{t+1}.
    """

    pos: Tensor  # [n, Dp], a buffer

    def __init__(
        self,
        dim: int,
        side: int,
        action_dim: int,
        width: int,
        depth: int,
        heads: int,
        max_frames: int,
        window: int | None = None,
        mlp_ratio: float = 4.0,
    ) -> None:
        super().__init__()
        if width % 4 or width % heads:
            raise DreamlabError(f"the predictor width {width} must be divisible by 4 and {heads}")
        if window is not None and window < 1:
            raise DreamlabError(f"the predictor's window must be at least 1 frame, got {window}")
        self.dim, self.width, self.heads = dim, width, heads
        self.max_frames, self.window = max_frames, window
        self.n = side * side
        self.frame_in = nn.Linear(dim, width)
        self.action_in = nn.Linear(action_dim, width)
        self.action_type = nn.Parameter(torch.zeros(width))
        self.register_buffer("pos", sincos_2d(side, side, width), persistent=False)
        self.offset_bias = nn.Parameter(torch.zeros(heads, max_frames))
        self.blocks = nn.ModuleList(_CausalBlock(width, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, dim)
        self.apply(vit_init)
        nn.init.trunc_normal_(self.action_type, std=0.02)

    @property
    def tokens_per_frame(self) -> int:
        """p = n + 1: the action token and the frame tokens."""
        return self.n + 1

    def _embed(self, z: Tensor, a: Tensor) -> Tensor:
        """Frame tokens [B, T, n, D] and actions [B, T, A] -> predictor tokens [B, T, p, Dp]."""
        frame = self.frame_in(z) + self.pos  # [B, T, n, Dp]
        act = self.action_in(clip_action(a.to(z.dtype))) + self.action_type  # [B, T, Dp]
        return torch.cat([act.unsqueeze(2), frame], dim=2)

    def _readout(self, x: Tensor) -> Tensor:
        """Predictor tokens [..., p, Dp] -> predicted frame tokens [..., n, D], layer-normed."""
        out = self.out(self.norm(x[..., 1:, :]))
        return F.layer_norm(out, out.shape[-1:])

    def attention_mask(self, query_frames: Tensor, key_frames: Tensor) -> Tensor:
        """The additive mask [heads, Lq, Lk] of queries and keys in frames [Lq] and [Lk]: the
        learned bias of the frame offset where the key's frame is the query's or an earlier one
        inside the window, -inf elsewhere (later frames above all)."""
        offset = query_frames[:, None] - key_frames[None, :]  # [Lq, Lk]
        allowed = (offset >= 0) & (offset < self.max_frames)
        if self.window is not None:
            allowed &= offset < self.window
        bias = self.offset_bias[:, offset.clamp(0, self.max_frames - 1)]  # [heads, Lq, Lk]
        return bias.masked_fill(~allowed, float("-inf"))

    def forward(self, z: Tensor, a: Tensor) -> Tensor:
        """Teacher forcing: frame tokens [B, T, n, D] and actions a_0..a_{T-1} [B, T, A]
        -> predictions [B, T, n, D] whose index t is the prediction of z_{t+1}."""
        b, t = z.shape[:2]
        if t > self.max_frames:
            raise DreamlabError(f"the predictor takes at most {self.max_frames} frames, got {t}")
        p = self.tokens_per_frame
        x = self._embed(z, a).reshape(b, t * p, self.width)  # [B, T * p, Dp]
        frames = torch.arange(t, device=z.device).repeat_interleave(p)  # [T * p]
        mask = self.attention_mask(frames, frames)
        none = x.new_zeros(b, 0, self.width)
        for block in self.blocks:
            x, _ = block(x, none, mask)
        return self._readout(x.reshape(b, t, p, self.width))

    def empty_cache(
        self, b: int, memory: int, device: torch.device | None = None
    ) -> tuple[Tensor, Tensor]:
        """The memory of ``step`` before a first frame: room for ``memory`` earlier frames' normed
        inputs, [B, L, memory * p, Dp] (zeros), and which of them exist, bool [B, memory] (none).

        ``step`` attends to the current frame and the remembered ones; with
        ``memory >= min(W, T) - 1`` it reproduces ``forward`` exactly."""
        if not 0 <= memory < self.max_frames:
            raise DreamlabError(
                f"the predictor can remember 0 .. {self.max_frames - 1} frames, not {memory}"
            )
        p = self.tokens_per_frame
        cache = torch.zeros(b, len(self.blocks), memory * p, self.width, device=device)
        return cache, torch.zeros(b, memory, dtype=torch.bool, device=device)

    def step(
        self, z: Tensor, a: Tensor, cache: Tensor, valid: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """One frame of ``forward``: z_t [B, n, D], a_t [B, A] and the memory of the M earlier
        frames t - M .. t - 1 (``empty_cache``'s layout, oldest first) -> (prediction of
        z_{t+1} [B, n, D], the memory of frames t - M + 1 .. t, its validity)."""
        b, p, m = z.shape[0], self.tokens_per_frame, valid.shape[1]
        x = self._embed(z.unsqueeze(1), a.unsqueeze(1))[:, 0]  # [B, p, Dp]
        # Keys: the M remembered frames (positions 0 .. M - 1), then this one (position M).
        key_frames = torch.arange(m + 1, device=z.device).repeat_interleave(p)  # [(M + 1) p]
        query_frames = torch.full((p,), m, device=z.device)
        mask = self.attention_mask(query_frames, key_frames)  # [heads, p, (M + 1) p]
        present = torch.cat([valid.repeat_interleave(p, dim=1), valid.new_ones(b, p)], dim=1)
        mask = mask.masked_fill(~present[:, None, None, :], float("-inf"))  # [B, heads, p, .]
        normed = []
        for i, block in enumerate(self.blocks):
            x, y = block(x, cache[:, i], mask)
            normed.append(y)
        if m > 0:
            # Forget the oldest frame, remember this one: the memory keeps its shape.
            new = torch.stack(normed, dim=1)  # [B, L, p, Dp]
            cache = torch.cat([cache[:, :, p:], new], dim=2)  # [B, L, M p, Dp]
            valid = torch.cat([valid[:, 1:], valid.new_ones(b, 1)], dim=1)  # [B, M]
        return self._readout(x), cache, valid


def ac_losses(
    predictor: ACPredictor, tokens: Tensor, actions: Tensor, rollout_steps: int
) -> tuple[Tensor, dict[str, Tensor]]:
    """V-JEPA 2-AC's loss on frozen frame tokens [B, T, n, D] and actions [B, T - 1, A].

    ``tf``: the mean L1 distance of the teacher-forced predictions of z_1 .. z_{T-1} to the
    targets. ``rollout``: the predictor starts from z_0 alone and feeds its own predictions back
    for ``rollout_steps`` steps (capped at T - 1), attending as in teacher forcing; the mean L1
    distance of those predictions. The loss is their sum.
    """
    t = tokens.shape[1]
    if actions.shape[1] != t - 1:
        raise ValueError(f"actions must be [B, T - 1, A] with T = {t}, got {tuple(actions.shape)}")
    tf = (predictor(tokens[:, :-1], actions) - tokens[:, 1:]).abs().mean()
    steps = min(rollout_steps, t - 1)
    window = steps if predictor.window is None else min(predictor.window, steps)
    z = tokens[:, 0]
    cache, valid = predictor.empty_cache(tokens.shape[0], max(window - 1, 0), tokens.device)
    errors = []
    for k in range(steps):
        z, cache, valid = predictor.step(z, actions[:, k], cache, valid)
        errors.append((z - tokens[:, k + 1]).abs().mean())
    rollout = torch.stack(errors).mean() if errors else tokens.new_zeros(())
    return tf + rollout, {"tf": tf, "rollout": rollout}


# ----------------------------------------------------------------------------- the world model


class ACWorldModel(nn.Module):
    """The frozen encoder and the action-conditioned predictor; a dreamlab ``WorldModel``.

    ``State.z`` holds a frame's pooled, layer-normed tokens [B, n, D]; ``State.extras`` the
    predictor's memory of the previous ``memory`` (M) imagined frames (``cache`` [B, L, M p, Dp]
    and ``valid`` [B, M]). The encoder never trains here: its parameters do not require
    gradient, and only ``predictor`` is handed to an optimiser.
    """

    def __init__(
        self,
        encoder: FrameViT,
        predictor: ACPredictor,
        obs_mode: str,
        image_size: int,
        pool: int,
        memory: int,
    ) -> None:
        super().__init__()
        gh = encoder.grid[0]
        if pool < 1 or gh % pool:
            raise DreamlabError(f"{gh}x{gh} patch tokens cannot be pooled to {pool}x{pool}")
        if predictor.n != pool * pool:
            raise DreamlabError(
                f"the predictor expects {predictor.n} tokens per frame, not {pool**2}"
            )
        self.encoder = encoder.requires_grad_(False)
        self.predictor = predictor
        self.obs_mode, self.image_size, self.pool = obs_mode, image_size, pool
        self.memory = memory
        predictor.empty_cache(1, memory)  # a memory the predictor cannot hold fails here

    def frame_tokens(self, frames: Tensor) -> Tensor:
        """Prepared frames float [N, C, S, S] in [0, 1] -> pooled tokens [N, n, D]."""
        tokens = self.encoder.encode(frames)  # [N, P, D]
        n, _, d = tokens.shape
        gh, gw = self.encoder.grid
        grid = tokens.transpose(1, 2).reshape(n, d, gh, gw)  # [N, D, gh, gw]
        pooled = F.avg_pool2d(grid, gh // self.pool).flatten(2).transpose(1, 2)  # [N, n, D]
        return F.layer_norm(pooled, (d,))

    def encode(self, obs: Tensor) -> Tensor:
        """Frames [B, ...] (uint8 from the env or prepared, or float prepared in [0, 1])
        -> tokens [B, n, D]."""
        if obs.dtype == torch.uint8:
            x = prepare_frames(obs, self.obs_mode, self.image_size).float() / 255.0
        else:
            x = obs.float()
        return self.frame_tokens(x)

    # the WorldModel contract
    def initial(self, obs: Tensor) -> State:
        """Encode frames [B, ...]: z = tokens [B, n, D], an empty memory."""
        z = self.encode(obs)
        cache, valid = self.predictor.empty_cache(z.shape[0], self.memory, z.device)
        return State(z=z, extras={"cache": cache.to(z.dtype), "valid": valid})

    def step(self, state: State, action: Tensor) -> tuple[State, StepOut]:
        """One imagined frame: z [B, n, D] -> z' [B, n, D]; reward 0 and cont 1, each [B]."""
        z, cache, valid = self.predictor.step(
            state.z, action, state.extras["cache"], state.extras["valid"]
        )
        zeros = torch.zeros(state.batch_size, dtype=z.dtype, device=z.device)
        return State(z=z, extras={"cache": cache, "valid": valid}), StepOut(
            reward=zeros, cont=zeros + 1
        )

    def observe(self, state: State, action: Tensor, obs: Tensor) -> State:
        """A real frame starts a new memory (planning replans from the frame alone)."""
        return self.initial(obs)

    def decode(self, state: State) -> Tensor:
        """Not available: the model predicts frozen features only."""
        raise DreamlabError("the V-JEPA 2-AC world model has no decoder: it predicts tokens only")
