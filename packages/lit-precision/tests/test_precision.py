from __future__ import annotations

import doctest
import math
import warnings

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import lit_precision
from lit_hooks import MisconfigurationException, PrecisionProtocol
from lit_precision import (
    PRECISION_REGISTRY,
    DoublePrecision,
    HalfPrecision,
    MixedPrecision,
    Precision,
    _amp,
    _double,
    _half,
    _precision,
    _registry,
    _utils,
    clip_gradients_,
    convert_floating_point,
    normalize_precision,
    precision_from_str,
)


def _model_and_opt(seed: int = 0, lr: float = 0.1) -> tuple[torch.nn.Linear, torch.optim.SGD]:
    torch.manual_seed(seed)
    model = torch.nn.Linear(3, 1)
    return model, torch.optim.SGD(model.parameters(), lr=lr)


def _loss(model: torch.nn.Module) -> torch.Tensor:
    x = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    return model(x).pow(2).mean()


@pytest.mark.parametrize("module", [_utils, _precision, _double, _half, _amp, _registry])
def test_docstring_examples(module: object) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


@pytest.mark.parametrize(
    "plugin",
    [Precision(), DoublePrecision(), HalfPrecision("bf16-true"), MixedPrecision("bf16-mixed", "cpu")],
)
def test_plugins_satisfy_protocol(plugin: Precision) -> None:
    assert isinstance(plugin, PrecisionProtocol)


# ------------------------------------------------------------------------------------------------ base / 32-true
def test_base_backward_and_step_match_plain_pytorch() -> None:
    model, opt = _model_and_opt()
    ref_model, ref_opt = _model_and_opt()
    precision = Precision()

    def closure() -> torch.Tensor:
        opt.zero_grad()
        with precision.forward_context():
            loss = precision.pre_backward(_loss(model), model)
        precision.backward(loss, model, opt)
        return precision.post_backward(loss, model)

    out = precision.optimizer_step(opt, model, closure)
    assert not out.requires_grad  # post_backward detached the loss

    ref_opt.zero_grad()
    _loss(ref_model).backward()
    ref_opt.step()
    for p, q in zip(model.parameters(), ref_model.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)


def test_backward_uses_module_backward_hook_and_forwards_arguments() -> None:
    calls: list[tuple[torch.Tensor, dict[str, object]]] = []

    class WithHook(torch.nn.Linear):
        def backward(self, loss: torch.Tensor, *args: object, **kwargs: object) -> None:
            calls.append((loss, kwargs))
            loss.backward(*args, **kwargs)

    model = WithHook(2, 1)
    loss = model(torch.ones(1, 2)).sum()
    Precision().backward(loss, model, None, retain_graph=True)
    assert len(calls) == 1 and calls[0][1] == {"retain_graph": True}
    assert model.weight.grad is not None
    # graph retained: a second backward works
    loss.backward()


def test_optimizer_step_forwards_closure_result() -> None:
    model, opt = _model_and_opt()
    sentinel = torch.tensor(3.0)
    assert Precision().optimizer_step(opt, model, lambda: sentinel) is sentinel


def test_clip_gradients_by_norm_and_value() -> None:
    model, opt = _model_and_opt()
    precision = Precision()
    model.weight.grad = torch.tensor([[3.0, 0.0, 4.0]])
    model.bias.grad = torch.tensor([0.0])
    precision.clip_gradients(model, opt, clip_val=1.0, gradient_clip_algorithm="norm")
    torch.testing.assert_close(model.weight.grad, torch.tensor([[0.6, 0.0, 0.8]]), rtol=1e-5, atol=1e-6)

    model.weight.grad = torch.tensor([[3.0, -0.1, -4.0]])
    precision.clip_gradients(model, opt, clip_val=0.5, gradient_clip_algorithm="value")
    torch.testing.assert_close(model.weight.grad, torch.tensor([[0.5, -0.1, -0.5]]))

    # clip_val <= 0 disables clipping; the enum is accepted too
    model.weight.grad = torch.tensor([[30.0, 0.0, 40.0]])
    precision.clip_gradients(model, opt, clip_val=0.0)
    torch.testing.assert_close(model.weight.grad, torch.tensor([[30.0, 0.0, 40.0]]))
    precision.clip_gradients(model, opt, 5.0, lit_precision._precision.GradClipAlgorithmType.NORM)
    assert math.isclose(model.weight.grad.norm().item(), 5.0, rel_tol=1e-5)


def test_clip_gradients_rejects_unknown_algorithm() -> None:
    model, opt = _model_and_opt()
    with pytest.raises(ValueError, match=r"gradient_clip_algorithm='l1'.*'value', 'norm'"):
        Precision().clip_gradients(model, opt, 1.0, "l1")
    with pytest.raises(ValueError, match="'l1'"):
        clip_gradients_(model.parameters(), 1.0, "l1")


@given(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=8), st.floats(0.01, 100.0))
def test_functional_clipping_bounds_hold(values: list[float], clip_val: float) -> None:
    p = torch.nn.Parameter(torch.zeros(len(values), dtype=torch.float64))
    p.grad = torch.tensor(values, dtype=torch.float64)
    clip_gradients_([p], clip_val, "value")
    assert p.grad.abs().max().item() <= clip_val + 1e-12
    p.grad = torch.tensor(values, dtype=torch.float64)
    original_norm = p.grad.norm().item()
    clip_gradients_([p], clip_val, "norm")
    assert p.grad.norm().item() <= max(clip_val, 0) * (1 + 1e-6) + 1e-12
    if original_norm + 1e-6 <= clip_val:  # torch divides by (norm + 1e-6): no rescaling within the bound
        torch.testing.assert_close(p.grad, torch.tensor(values, dtype=torch.float64), rtol=0, atol=0)


def test_base_state_is_empty() -> None:
    precision = Precision()
    assert precision.state_dict() == {}
    precision.load_state_dict({})
    model = torch.nn.Linear(1, 1)
    assert precision.connect(model, [], []) == (model, [], [])


# ------------------------------------------------------------------------------------------------ 64-true / half
def test_double_precision_converts_module_inputs_and_new_tensors() -> None:
    precision = DoublePrecision()
    model = precision.convert_module(torch.nn.Linear(2, 2))
    assert {p.dtype for p in model.parameters()} == {torch.float64}
    batch = {"x": torch.ones(2, 2), "y": torch.tensor([1, 0]), "meta": "keep"}
    converted = precision.convert_input(batch)
    assert converted["x"].dtype == torch.float64 and converted["y"].dtype == torch.int64
    assert converted["meta"] == "keep"
    with precision.module_init_context():
        layer = torch.nn.Linear(2, 2)
    assert layer.weight.dtype == torch.float64
    with precision.forward_context():
        assert torch.zeros(1).dtype == torch.float64
        out = model(converted["x"])
    assert out.dtype == torch.float64
    assert torch.get_default_dtype() == torch.float32  # restored


def test_default_dtype_restored_after_exception() -> None:
    with pytest.raises(RuntimeError), DoublePrecision().tensor_init_context():
        raise RuntimeError("boom")
    assert torch.get_default_dtype() == torch.float32


@pytest.mark.parametrize(("name", "dtype"), [("16-true", torch.float16), ("bf16-true", torch.bfloat16)])
def test_half_precision(name: str, dtype: torch.dtype) -> None:
    precision = HalfPrecision(name)
    model = precision.convert_module(torch.nn.Linear(2, 2))
    assert model.weight.dtype == dtype
    assert precision.convert_input(torch.ones(1)).dtype == dtype
    assert precision.convert_input(torch.ones(1, dtype=torch.int32)).dtype == torch.int32
    with precision.tensor_init_context():
        assert torch.empty(1).dtype == dtype
    assert torch.get_default_dtype() == torch.float32


def test_half_precision_rejects_other_strings() -> None:
    with pytest.raises(ValueError, match=r"HalfPrecision\(precision='16-mixed'\).*'16-true'.*'bf16-true'"):
        HalfPrecision("16-mixed")


def test_convert_floating_point_returns_same_tensor_when_dtype_matches() -> None:
    t = torch.ones(2, dtype=torch.float64)
    assert convert_floating_point(t, torch.float64) is t


# ------------------------------------------------------------------------------------------------ mixed precision
def test_bf16_autocast_dtype_of_matmul_outputs() -> None:
    precision = MixedPrecision("bf16-mixed", device="cpu")
    assert precision.scaler is None
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    model = torch.nn.Linear(4, 4)
    with precision.forward_context():
        assert (a @ b).dtype == torch.bfloat16
        assert model(a).dtype == torch.bfloat16
    assert (a @ b).dtype == torch.float32
    assert model.weight.dtype == torch.float32  # parameters stay in float32
    with precision.train_step_context():
        assert torch.mm(a, b).dtype == torch.bfloat16
    # inputs are not converted by mixed precision
    assert precision.convert_input(a) is a


def test_fp16_autocast_on_cpu() -> None:
    precision = MixedPrecision("16-mixed", device="cpu")
    with precision.forward_context():
        assert (torch.randn(2, 2) @ torch.randn(2, 2)).dtype == torch.float16


def test_grad_scaler_scales_loss_and_unscales_before_step() -> None:
    model, opt = _model_and_opt()
    ref_model, ref_opt = _model_and_opt()
    precision = MixedPrecision("16-mixed", device="cpu")
    scale = precision.scaler.get_scale()
    assert scale == 2.0**16
    seen_grads: list[torch.Tensor] = []

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = _loss(model)
        scaled = precision.pre_backward(loss, model)
        torch.testing.assert_close(scaled, loss * scale)
        precision.backward(scaled, model, opt)
        seen_grads.append(model.weight.grad.clone())
        return precision.post_backward(scaled, model)

    precision.optimizer_step(opt, model, closure)

    ref_opt.zero_grad()
    _loss(ref_model).backward()
    torch.testing.assert_close(seen_grads[0], ref_model.weight.grad * scale)
    # after the step the gradients are unscaled and the update equals the fp32 update
    torch.testing.assert_close(model.weight.grad, ref_model.weight.grad)
    ref_opt.step()
    for p, q in zip(model.parameters(), ref_model.parameters()):
        torch.testing.assert_close(p, q)
    assert precision.scaler.get_scale() == scale  # no growth after one finite step


def test_grad_scaler_skips_step_on_inf_and_halves_scale() -> None:
    model, opt = _model_and_opt()
    precision = MixedPrecision("16-mixed", device="cpu")
    before = [p.detach().clone() for p in model.parameters()]
    scale = precision.scaler.get_scale()

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = precision.pre_backward(_loss(model), model)
        precision.backward(loss, model, opt)
        model.weight.grad[0, 0] = float("inf")
        return precision.post_backward(loss, model)

    out = precision.optimizer_step(opt, model, closure)
    assert out is None  # the step was skipped
    for p, b in zip(model.parameters(), before):
        torch.testing.assert_close(p, b, rtol=0, atol=0)
    assert precision.scaler.get_scale() == scale / 2

    # the next finite step updates the parameters again
    def finite_closure() -> torch.Tensor:
        opt.zero_grad()
        loss = precision.pre_backward(_loss(model), model)
        precision.backward(loss, model, opt)
        return precision.post_backward(loss, model)

    precision.optimizer_step(opt, model, finite_closure)
    assert not torch.equal(model.weight, before[0])
    assert precision.scaler.get_scale() == scale / 2


def test_clipping_sees_unscaled_gradients_and_unscales_once() -> None:
    model, opt = _model_and_opt()
    ref_model, ref_opt = _model_and_opt()
    precision = MixedPrecision("16-mixed", device="cpu")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = precision.pre_backward(_loss(model), model)
        precision.backward(loss, model, opt)
        # clipping inside the closure (as loops do before stepping) unscales first
        precision.clip_gradients(model, opt, 0.5, "norm")
        return precision.post_backward(loss, model)

    precision.optimizer_step(opt, model, closure)

    ref_opt.zero_grad()
    _loss(ref_model).backward()
    torch.nn.utils.clip_grad_norm_(ref_model.parameters(), 0.5)
    ref_opt.step()
    for p, q in zip(model.parameters(), ref_model.parameters()):
        torch.testing.assert_close(p, q)


def test_closure_returning_none_skips_step_for_automatic_optimization() -> None:
    model, opt = _model_and_opt()
    model.automatic_optimization = True  # type: ignore[assignment]
    precision = MixedPrecision("16-mixed", device="cpu")
    before = model.weight.detach().clone()
    assert precision.optimizer_step(opt, model, lambda: None) is None
    torch.testing.assert_close(model.weight, before, rtol=0, atol=0)


def test_mixed_precision_state_round_trip() -> None:
    model, opt = _model_and_opt()
    precision = MixedPrecision("16-mixed", device="cpu")

    def inf_closure() -> torch.Tensor:
        opt.zero_grad()
        loss = precision.pre_backward(_loss(model), model)
        precision.backward(loss, model, opt)
        model.bias.grad.fill_(float("nan"))
        return loss.detach()

    precision.optimizer_step(opt, model, inf_closure)
    state = precision.state_dict()
    assert state["scale"] == 2.0**15

    restored = MixedPrecision("16-mixed", device="cpu")
    assert restored.scaler.get_scale() == 2.0**16
    restored.load_state_dict(state)
    assert restored.scaler.get_scale() == 2.0**15
    assert restored.state_dict() == state
    # bf16 has no scaler state
    assert MixedPrecision("bf16-mixed", "cpu").state_dict() == {}


def test_mixed_precision_argument_errors() -> None:
    with pytest.raises(ValueError, match=r"precision='32-true'.*'16-mixed'.*'bf16-mixed'"):
        MixedPrecision("32-true", "cpu")
    with pytest.raises(MisconfigurationException, match="does not use a grad scaler"):
        MixedPrecision("bf16-mixed", "cpu", scaler=torch.amp.GradScaler("cpu"))
    model = torch.nn.Linear(1, 1)
    lbfgs = torch.optim.LBFGS(model.parameters())
    with pytest.raises(MisconfigurationException, match="LBFGS"):
        MixedPrecision("16-mixed", "cpu").optimizer_step(lbfgs, model, lambda: None)


def test_mixed_precision_accepts_custom_scaler() -> None:
    scaler = torch.amp.GradScaler("cpu", init_scale=8.0)
    precision = MixedPrecision("16-mixed", "cpu", scaler=scaler)
    assert precision.scaler is scaler
    assert precision.pre_backward(torch.tensor(2.0), None).item() == 16.0


# ------------------------------------------------------------------------------------------------ registry
def test_registry_holds_every_builtin_string() -> None:
    assert PRECISION_REGISTRY.available() == [
        "16-mixed",
        "16-true",
        "32-true",
        "64-true",
        "bf16-mixed",
        "bf16-true",
    ]
    assert type(PRECISION_REGISTRY.get("32-true")) is Precision
    assert PRECISION_REGISTRY.get("bf16-true").precision == "bf16-true"
    assert isinstance(PRECISION_REGISTRY.get("bf16-mixed"), MixedPrecision)


def test_registry_errors_list_choices_and_hint_override() -> None:
    with pytest.raises(
        KeyError, match=r"'fp8' not found in the precision registry. Available names: 16-mixed"
    ):
        PRECISION_REGISTRY.get("fp8")
    with pytest.raises(ValueError, match="override=True"):
        PRECISION_REGISTRY.register("64-true", DoublePrecision)


@pytest.mark.parametrize(
    ("flag", "expected", "warns"),
    [
        (64, "64-true", False),
        ("64", "64-true", False),
        (32, "32-true", False),
        ("32", "32-true", False),
        (16, "16-mixed", True),
        ("16", "16-mixed", True),
        ("bf16", "bf16-mixed", True),
        ("bf16-true", "bf16-true", False),
        ("transformer-engine", "transformer-engine", False),
    ],
)
def test_normalize_precision_aliases(flag: object, expected: str, warns: bool) -> None:
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        assert normalize_precision(flag) == expected
    assert any("historical reasons" in str(w.message) for w in record) == warns


@pytest.mark.parametrize("flag", [True, 16.0, "fp16", "16-MIXED", 8, None])
def test_normalize_precision_rejects_invalid_values(flag: object) -> None:
    with pytest.raises(ValueError, match=rf"Precision {flag!r} is invalid.*'bf16-mixed'.*aliases"):
        normalize_precision(flag)


@given(st.text(max_size=12))
def test_unknown_strings_are_rejected_known_ones_are_idempotent(text: str) -> None:
    known = set(_registry._SUPPORTED_PRECISION) | set(PRECISION_REGISTRY.available())
    if text in known:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            once = normalize_precision(text)
            assert normalize_precision(once) == once
    else:
        with pytest.raises(ValueError, match="Allowed precision values"):
            normalize_precision(text)


def test_precision_from_str_maps_like_lightning() -> None:
    assert type(precision_from_str("32-true", "cpu")) is Precision
    assert type(precision_from_str(64, "cpu")) is DoublePrecision
    assert precision_from_str("16-true", "cuda").precision == "16-true"
    cuda_mixed = precision_from_str("bf16-mixed", "gpu")
    assert (cuda_mixed.precision, cuda_mixed.device) == ("bf16-mixed", "cuda")
    mps_mixed = precision_from_str("bf16-mixed", "mps")
    assert mps_mixed.device == "mps"


def test_16_mixed_on_cpu_becomes_bf16_mixed_with_warning() -> None:
    with pytest.warns(UserWarning, match="AMP with fp16 is not supported on CPU"):
        plugin = precision_from_str("16-mixed", "cpu")
    assert isinstance(plugin, MixedPrecision)
    assert (plugin.precision, plugin.device, plugin.scaler) == ("bf16-mixed", "cpu", None)


def test_transformer_engine_is_rejected_with_explanation() -> None:
    with pytest.raises(MisconfigurationException, match="Transformer Engine.*does not provide"):
        precision_from_str("transformer-engine", "cuda")


def test_third_party_registration_is_usable_by_name() -> None:
    class Fp8Like(Precision):
        precision = "my-fp8"

    PRECISION_REGISTRY.register("my-fp8", Fp8Like)
    try:
        assert normalize_precision("my-fp8") == "my-fp8"
        assert type(precision_from_str("my-fp8", "cuda")) is Fp8Like
    finally:
        PRECISION_REGISTRY.remove("my-fp8")
