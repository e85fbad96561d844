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
