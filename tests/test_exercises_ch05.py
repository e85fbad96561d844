"""Chapter 5's checkers: full marks for a correct answer, 0 when not attempted, feedback otherwise."""
import numpy as np
import torch

from rnnbook.exercises import ch05

from checker_contract import checker_contract


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


def lstm_step(x, h, c, W_ih, W_hh, b):
    i, f, g, o = np.split(x @ W_ih.T + h @ W_hh.T + b, 4, axis=1)
    c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    return sigmoid(o) * np.tanh(c), c


def gru_step(x, h, W_ih, W_hh, b_ih, b_hh):
    x_r, x_z, x_n = np.split(x @ W_ih.T + b_ih, 3, axis=1)
    h_r, h_z, h_n = np.split(h @ W_hh.T + b_hh, 3, axis=1)
    r, z = sigmoid(x_r + h_r), sigmoid(x_z + h_z)
    return (1 - z) * np.tanh(x_n + r * h_n) + z * h


def minimal_gru_step(x, h, W_z, U_z, b_z, W_h, U_h, b_h):
    z = sigmoid(x @ W_z.T + h @ U_z.T + b_z)
    return z * h + (1 - z) * np.tanh(x @ W_h.T + h @ U_h.T + b_h)


def param_count(kind, input_size, hidden_size):
    gates = {"rnn": 1, "gru": 3, "lstm": 4}[kind]
    return gates * (hidden_size * (input_size + hidden_size) + 2 * hidden_size)


CHECKERS = {
    "lstm_step": (ch05.check_lstm_step, lstm_step, {
        "swapped c and h": lambda *a: lstm_step(*a)[::-1],
        "no output gate": lambda x, h, c, W, U, b: (np.tanh(lstm_step(x, h, c, W, U, b)[1]),
                                                     lstm_step(x, h, c, W, U, b)[1]),
        "gate order i|g|f|o": lambda x, h, c, W, U, b: lstm_step(x, h, c, *(_swap_fg(a) for a in (W, U, b))),
        "returns only h": lambda *a: lstm_step(*a)[0],
    }),
    "gru_step": (ch05.check_gru_step, gru_step, {
        "z and 1 - z swapped": lambda *a: _swapped_gru(*a),
        "reset outside the bias": lambda x, h, W, U, bi, bh: _reset_outside(x, h, W, U, bi, bh),
        "NaN": lambda x, h, *a: np.full_like(h, np.nan),
    }),
    "minimal_gru_step": (ch05.check_minimal_gru_step, minimal_gru_step, {
        "z on the candidate": lambda x, h, Wz, Uz, bz, Wh, Uh, bh: (
            (1 - sigmoid(x @ Wz.T + h @ Uz.T + bz)) * h
            + sigmoid(x @ Wz.T + h @ Uz.T + bz) * np.tanh(x @ Wh.T + h @ Uh.T + bh)),
        "untransposed weights": lambda x, h, Wz, Uz, bz, Wh, Uh, bh: minimal_gru_step(
            x, h, Wz, Uz.T, bz, Wh, Uh.T, bh),
        "wrong shape": lambda x, h, *a: minimal_gru_step(x, h, *a).ravel(),
    }),
    "param_count": (ch05.check_param_count, param_count, {
        "one bias": lambda k, i, h: param_count(k, i, h) - {"rnn": 1, "gru": 3, "lstm": 4}[k] * h,
        "forgets the recurrent weights": lambda k, i, h: {"rnn": 1, "gru": 3, "lstm": 4}[k] * (h * i + 2 * h),
        "returns a string": lambda k, i, h: "many",
    }),
}


def _swap_fg(a):
    i, f, g, o = np.split(a, 4, axis=0)
    return np.concatenate([i, g, f, o], axis=0)


def _swapped_gru(x, h, W_ih, W_hh, b_ih, b_hh):
    x_r, x_z, x_n = np.split(x @ W_ih.T + b_ih, 3, axis=1)
    h_r, h_z, h_n = np.split(h @ W_hh.T + b_hh, 3, axis=1)
    r, z = sigmoid(x_r + h_r), sigmoid(x_z + h_z)
    return z * np.tanh(x_n + r * h_n) + (1 - z) * h


def _reset_outside(x, h, W_ih, W_hh, b_ih, b_hh):
    x_r, x_z, x_n = np.split(x @ W_ih.T + b_ih, 3, axis=1)
    h_r, h_z, h_n = np.split(h @ W_hh.T + b_hh, 3, axis=1)
    r, z = sigmoid(x_r + h_r), sigmoid(x_z + h_z)
    hn = (r * h) @ W_hh[2 * h.shape[1]:].T
    return (1 - z) * np.tanh(x_n + hn) + z * h


def lstm_step_backward(x, h, c, W_ih, W_hh, b, dh_new, dc_new, *, through_h=True, dsig=True, keep_f=True):
    a_i, a_f, a_g, a_o = np.split(x @ W_ih.T + h @ W_hh.T + b, 4, axis=1)
    i, f, g, o = sigmoid(a_i), sigmoid(a_f), np.tanh(a_g), sigmoid(a_o)
    tanh_c = np.tanh(f * c + i * g)
    dc_total = dc_new + (dh_new * o * (1 - tanh_c ** 2) if through_h else 0)
    d = (lambda s: s * (1 - s)) if dsig else (lambda s: s)
    da = np.concatenate([dc_total * g * d(i), dc_total * c * d(f), dc_total * i * (1 - g ** 2),
                         dh_new * tanh_c * d(o)], axis=1)
    dc = dc_total * f if keep_f else dc_total
    return da @ W_ih, da @ W_hh, dc, da.T @ x, da.T @ h, da.sum(axis=0)


def forget_bias_for_memory(T, keep):
    p = keep ** (1 / T)
    return np.log(p / (1 - p))


def gradient_reach(T, target, seed, *, pick=None, state_bias=None, scale=1.0):
    H, ratios, states = 16, [], []
    for bias in ch05.REACH_BIASES:
        torch.manual_seed(seed)
        lstm = torch.nn.LSTM(1, H, dtype=torch.float64)
        with torch.no_grad():
            lstm.bias_ih_l0[H:2 * H] = bias if state_bias is None else state_bias
            lstm.bias_hh_l0[H:2 * H] = 0.0
        x = torch.randn(T, 256, 1, dtype=torch.float64, requires_grad=True)
        grad, = torch.autograd.grad(lstm(x)[0][-1].sum(), x)
        ratios.append(float(grad[0].norm() / grad[-1].norm()) * scale)
        states.append(lstm.state_dict())
    k = next(k for k, r in enumerate(ratios) if r >= target) if pick is None else pick
    return ch05.REACH_BIASES[k], states[k], ratios


CHECKERS.update({
    "lstm_step_backward": (ch05.check_lstm_step_backward, lstm_step_backward, {
        "no path from dh_new into the cell": lambda *a: lstm_step_backward(*a, through_h=False),
        "sigmoid derivative taken as s": lambda *a: lstm_step_backward(*a, dsig=False),
        "dc without the forget gate": lambda *a: lstm_step_backward(*a, keep_f=False),
        "weight gradients transposed": lambda *a: tuple(g.T if k in (3, 4) else g
                                                        for k, g in enumerate(lstm_step_backward(*a))),
        "returns five gradients": lambda *a: lstm_step_backward(*a)[:5],
    }),
    "forget_bias_for_memory": (ch05.check_forget_bias_for_memory, forget_bias_for_memory, {
        "ignores T": lambda T, keep: np.log(keep / (1 - keep)),
        "keep to the power T": lambda T, keep: forget_bias_for_memory(1 / T, keep),
        "returns the gate, not the bias": lambda T, keep: keep ** (1 / T),
    }),
    "gradient_reach": (ch05.check_gradient_reach, gradient_reach, {
        "the largest bias": lambda T, t, s: gradient_reach(T, t, s, pick=len(ch05.REACH_BIASES) - 1),
        "returns the model at bias 0": lambda T, t, s: gradient_reach(T, t, s, state_bias=0.0),
        "ratios inflated tenfold": lambda T, t, s: gradient_reach(T, t, s, scale=10.0),
        "one bias too low, own ratios fudged": lambda T, t, s: _one_too_low(T, t, s),
    }),
})


def _one_too_low(T, target, seed):
    bias, _, ratios = gradient_reach(T, target, seed)
    k = max(ch05.REACH_BIASES.index(bias) - 1, 0)
    _, state, _ = gradient_reach(T, target, seed, pick=k)
    ratios = list(ratios)
    ratios[k] = target
    return ch05.REACH_BIASES[k], state, ratios



(test_the_reference_earns_full_marks_on_fresh_inputs,
 test_an_unattempted_exercise_scores_zero_and_says_so,
 test_typical_wrong_answers_earn_less_and_get_feedback) = checker_contract(CHECKERS)


def test_the_lstm_checker_agrees_with_torch_nn_lstmcell():
    rng = np.random.default_rng(0)
    cell = torch.nn.LSTMCell(3, 5, dtype=torch.float64)
    x, h, c = rng.normal(size=(2, 3)), rng.normal(size=(2, 5)), rng.normal(size=(2, 5))
    W, U = cell.weight_ih.detach().numpy(), cell.weight_hh.detach().numpy()
    b = (cell.bias_ih + cell.bias_hh).detach().numpy()
    expected = cell(torch.from_numpy(x), (torch.from_numpy(h), torch.from_numpy(c)))
    for got, want in zip(lstm_step(x, h, c, W, U, b), expected):
        assert np.allclose(got, want.detach().numpy(), atol=1e-12)
