"""Sine-wave prediction with L-BFGS, after pytorch/examples/time_sequence_prediction
(generate_sine_wave.py and train.py): a Sequence module of two nn.LSTMCell and an nn.Linear
unrolled by hand over the time steps (`input.split(1, dim=1)`), in float64 (`seq.double()`),
trained on the whole batch by optim.LBFGS(lr=0.8) with a closure; after each step it predicts
`future` steps past the end of the test waves without gradients. Every closure evaluation's
loss is returned, so L-BFGS's inner iterations are compared one by one. Shorter, fewer and
faster waves and a smaller hidden size than the original (N=100, L=1000, T=20, 51 units).
"""


def build(torch, nn, F, rng, hidden=16):
    class Sequence(nn.Module):
        def __init__(self):
            super(Sequence, self).__init__()
            self.lstm1 = nn.LSTMCell(1, hidden)
            self.lstm2 = nn.LSTMCell(hidden, hidden)
            self.linear = nn.Linear(hidden, 1)

        def forward(self, input, future=0):
            outputs = []
            h_t = torch.zeros(input.size(0), hidden, dtype=torch.double)
            c_t = torch.zeros(input.size(0), hidden, dtype=torch.double)
            h_t2 = torch.zeros(input.size(0), hidden, dtype=torch.double)
            c_t2 = torch.zeros(input.size(0), hidden, dtype=torch.double)

            for input_t in input.split(1, dim=1):
                h_t, c_t = self.lstm1(input_t, (h_t, c_t))
                h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
                output = self.linear(h_t2)
                outputs += [output]
            for i in range(future):  # if we should predict the future
                h_t, c_t = self.lstm1(output, (h_t, c_t))
                h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
                output = self.linear(h_t2)
                outputs += [output]
            outputs = torch.cat(outputs, dim=1)
            return outputs

    return {"seq": Sequence()}


def sine_waves(torch, rng, N=8, L=40, T=4):
    """generate_sine_wave.py: N waves sin(x / T), each shifted by a random integer offset."""
    offsets = rng.randint(-4 * T, 4 * T, (N,))          # np.random.randint(-4*T, 4*T, N)
    x = torch.arange(L).view(1, L) + offsets.view(N, 1)  # (N, L)
    return torch.sin(x.double() / 1.0 / T)


def run(torch, nn, F, optim, data, steps, models, rng, future=10):
    data = sine_waves(torch, rng)
    input = data[3:, :-1]
    target = data[3:, 1:]
    test_input = data[:3, :-1]
    test_target = data[:3, 1:]
    # build the model
    seq = models["seq"]
    seq.double()
    criterion = nn.MSELoss()
    # use LBFGS as optimizer since we can load the whole data to train
    optimizer = optim.LBFGS(seq.parameters(), lr=0.8)
    # begin to train
    closure_losses, test_losses = [], []
    for i in range(steps // 2):
        def closure():
            optimizer.zero_grad()
            out = seq(input)
            loss = criterion(out, target)
            closure_losses.append(loss.item())
            loss.backward()
            return loss
        optimizer.step(closure)
        # begin to predict, no need to track gradient here
        with torch.no_grad():
            pred = seq(test_input, future=future)
            loss = criterion(pred[:, :-future], test_target)
            test_losses.append(loss.item())
            y = pred.detach().numpy()
    return {"closure_losses": closure_losses, "test_losses": test_losses,
            "prediction_end": float(y[:, -1].sum()), "prediction_shape": list(y.shape)}
