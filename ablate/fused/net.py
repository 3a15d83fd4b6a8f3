"""K models of one plan as one: parameters stacked trial-last in a flat buffer.

Convolutions run as one grouped convolution (activations ``(N, K*C, H, W)``), linear
layers as one batched matmul (activations ``(N, K, F)``), as in HFTA (MLSys 2021). Every
slot carries BatchNorm for every trial; a per-trial mask picks the normalised or the plain
activation, so trials with different placements share each step.

All parameters live in one ``(P, K)`` buffer (trial last) so the optimizer updates every
trial with a handful of kernels; each layer's parameters are contiguous row blocks of it,
and their gradients land in a matching ``(P, K)`` gradient buffer.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ablate.fused.plan import Op, Unfusable

_BN_DEFAULTS = (1e-5, 0.1)  # BatchNorm's eps and momentum, for trials without one at a slot


class FusedNet:
    """The stacked model: ``forward`` maps ``(N, C, H, W)`` (one input for all trials) or
    ``(N, K, C, H, W)`` to logits ``(N, K, classes)``."""

    def __init__(
        self,
        plan: Sequence[Op],
        models: Sequence[nn.Sequential],
        *,
        device: torch.device,
        dtype: torch.dtype,
    ) -> None:
        self.plan = tuple(plan)
        self.k = len(models)
        first = models[0]
        self.layers: dict[int, nn.Module] = {
            op.index: first[op.index] for op in self.plan if op.kind in ("spatial", "pointwise")
        }
        self.conv_args = {
            op.index: (first[op.index].stride, first[op.index].padding, first[op.index].dilation)
            for op in self.plan
            if op.kind == "conv"
        }
        columns: dict[str, list[torch.Tensor]] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.stats: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.bn_args: dict[str, tuple[float, float]] = {}
        has_bn: dict[str, list[bool]] = {}

        def add(name: str, values: list[torch.Tensor]) -> None:
            self.shapes[name] = tuple(values[0].shape)
            columns[name] = [v.detach().to(device=device, dtype=dtype).reshape(-1) for v in values]

        for op in self.plan:
            layers = [m[op.index] for m in models]
            if op.kind in ("conv", "linear"):
                add(f"{op.index}.weight", [layer.weight for layer in layers])
                if layers[0].bias is not None:
                    add(f"{op.index}.bias", [layer.bias for layer in layers])
            elif op.kind == "slot":
                self._slot(op, layers, add, has_bn, device, dtype)
        self.has_bn = {s: torch.tensor(v, device=device) for s, v in has_bn.items()}
        self.offsets: dict[str, tuple[int, int]] = {}
        start = 0
        for name, shape in self.shapes.items():
            size = int(torch.Size(shape).numel())
            self.offsets[name] = (start, start + size)
            start += size
        self.flat = torch.cat([torch.stack(columns[n], dim=1) for n in self.shapes], dim=0)
        self._refresh()

    def _slot(self, op, layers, add, has_bn, device, dtype) -> None:
        present = [isinstance(layer, _BatchNorm) for layer in layers]
        for layer in layers:
            if not isinstance(layer, (_BatchNorm, nn.Identity)):
                raise Unfusable(
                    f"slot {op.slot!r} holds {type(layer).__name__}; only BatchNorm fuses"
                )
        norms = [layer for layer in layers if isinstance(layer, _BatchNorm)]
        args = {(n.eps, n.momentum) for n in norms} or {_BN_DEFAULTS}
        if len(args) > 1 or any(
            n.momentum is None or not n.affine or not n.track_running_stats for n in norms
        ):
            raise Unfusable(f"slot {op.slot!r}: BatchNorm settings differ or are not the defaults")
        self.bn_args[op.slot] = args.pop()
        ones, zeros = torch.ones(op.width), torch.zeros(op.width)

        def pick(attr: str, default: torch.Tensor) -> list[torch.Tensor]:
            pairs = zip(layers, present, strict=True)
            return [getattr(layer, attr) if p else default for layer, p in pairs]

        add(f"{op.slot}.weight", pick("weight", ones))
        add(f"{op.slot}.bias", pick("bias", zeros))
        mean = torch.stack([t.detach() for t in pick("running_mean", zeros)])
        var = torch.stack([t.detach() for t in pick("running_var", ones)])
        self.stats[op.slot] = (
            mean.to(device=device, dtype=dtype).contiguous(),
            var.to(device=device, dtype=dtype).contiguous(),
        )
        has_bn[op.slot] = present

    # -- parameters --------------------------------------------------------------------

    def _refresh(self) -> None:
        """Leaf views into ``flat`` whose gradients accumulate in place into ``grad``."""
        self.k = int(self.flat.shape[1])
        self.grad = torch.zeros_like(self.flat)
        self.leaves: dict[str, torch.Tensor] = {}
        for name, (a, b) in self.offsets.items():
            leaf = self.flat[a:b].detach().requires_grad_()
            leaf.grad = self.grad[a:b]
            self.leaves[name] = leaf
        self.modes: dict[str, str] = {}
        self.masks: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # trial, channel
        widths = {op.slot: op.width for op in self.plan if op.kind == "slot"}
        for slot, present in self.has_bn.items():
            count = int(present.sum())
            self.modes[slot] = "all" if count == self.k else "none" if count == 0 else "some"
            # per trial, and per channel of the stacked activations
            self.masks[slot] = (present, present.repeat_interleave(widths[slot]))

    def stacked(self, name: str) -> torch.Tensor:
        """Parameter ``name`` as ``(K, *shape)``, differentiable into ``flat``."""
        return self.leaves[name].t().reshape(self.k, *self.shapes[name])

    def select(self, keep: torch.Tensor) -> None:
        """Keep only trials ``keep`` (indices), dropping the others from every tensor."""
        self.flat = self.flat[:, keep].contiguous()
        self.stats = {
            s: (m[keep].contiguous(), v[keep].contiguous()) for s, (m, v) in self.stats.items()
        }
        self.has_bn = {s: p[keep] for s, p in self.has_bn.items()}
        self._refresh()

    # -- forward -----------------------------------------------------------------------

    def forward(self, x: torch.Tensor, *, training: bool) -> torch.Tensor:
        k = self.k
        shared = x.dim() == 4  # one input for every trial
        if not shared:
            x = x.reshape(x.shape[0], k * x.shape[2], *x.shape[3:])
        for op in self.plan:
            if op.kind == "conv":
                weight = self.stacked(f"{op.index}.weight")
                weight = weight.reshape(-1, *weight.shape[2:])
                bias = self.leaves.get(f"{op.index}.bias")
                bias = None if bias is None else bias.t().reshape(-1)
                stride, padding, dilation = self.conv_args[op.index]
                groups = 1 if shared else k
                x = F.conv2d(x, weight, bias, stride, padding, dilation, groups)
                shared = False
                continue
            if shared:
                x, shared = x.repeat(1, k, *([1] * (x.dim() - 2))), False
            if op.kind == "flatten":
                x = x.reshape(x.shape[0], k, -1)
            elif op.kind == "linear":
                weight = self.stacked(f"{op.index}.weight")  # (K, out, in)
                bias = self.leaves.get(f"{op.index}.bias")
                xt = x.transpose(0, 1)  # (K, N, in)
                if bias is None:
                    y = torch.bmm(xt, weight.transpose(1, 2))
                else:
                    y = torch.baddbmm(bias.t().unsqueeze(1), xt, weight.transpose(1, 2))
                x = y.transpose(0, 1)
            elif op.kind == "slot":
                x = self._norm(op, x, training)
            else:
                x = self.layers[op.index](x)
        return x

    def _norm(self, op: Op, x: torch.Tensor, training: bool) -> torch.Tensor:
        mode = self.modes[op.slot]
        if mode == "none":
            return x
        mean, var = self.stats[op.slot]
        eps, momentum = self.bn_args[op.slot]
        weight = self.leaves[f"{op.slot}.weight"].t().reshape(-1)
        bias = self.leaves[f"{op.slot}.bias"].t().reshape(-1)
        flat_layout = x.dim() == 3  # (N, K, F) after Flatten
        z = x.reshape(x.shape[0], -1) if flat_layout else x
        y = F.batch_norm(z, mean.view(-1), var.view(-1), weight, bias, training, momentum, eps)
        if flat_layout:
            y = y.view(x.shape)
        if mode == "all":
            return y
        present, per_channel = self.masks[op.slot]
        mask = present.view(1, -1, 1) if flat_layout else per_channel.view(1, -1, 1, 1)
        return torch.where(mask, y, x)
