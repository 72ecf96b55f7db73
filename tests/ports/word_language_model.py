"""Word-level LSTM language model, after pytorch/examples/word_language_model (main.py and
model.py as of 2019): an nn.Embedding encoder, a two-layer nn.LSTM (time first) with dropout,
a decoder tied to the encoder's weight, `init_weights` through `.data` (uniform_, zero_),
`init_hidden` from `weight.new_zeros`, truncated backpropagation through time with
`repackage_hidden` (detach), and the example's hand-written SGD step after
`clip_grad_norm_`: `p.data.add_(-lr, p.grad.data)` (torch's deprecated alpha-first add_).
A random token stream of a 20-word vocabulary stands in for Wikitext-2; smaller sizes.
"""
ntokens = 20


def build(torch, nn, F, rng, dropout=0.2, emsize=16, nhid=16, nlayers=2):
    class RNNModel(nn.Module):
        """Container module with an encoder, a recurrent module, and a decoder."""

        def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers, dropout=0.5, tie_weights=False):
            super(RNNModel, self).__init__()
            self.drop = nn.Dropout(dropout)
            self.encoder = nn.Embedding(ntoken, ninp)
            self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=dropout)
            self.decoder = nn.Linear(nhid, ntoken)

            # "Using the Output Embedding to Improve Language Models" (Press & Wolf 2016)
            if tie_weights:
                if nhid != ninp:
                    raise ValueError('When using the tied flag, nhid must be equal to emsize')
                self.decoder.weight = self.encoder.weight

            self.init_weights()

            self.rnn_type = rnn_type
            self.nhid = nhid
            self.nlayers = nlayers

        def init_weights(self):
            initrange = 0.1
            self.encoder.weight.data.uniform_(-initrange, initrange)
            self.decoder.bias.data.zero_()
            self.decoder.weight.data.uniform_(-initrange, initrange)

        def forward(self, input, hidden):
            emb = self.drop(self.encoder(input))
            output, hidden = self.rnn(emb, hidden)
            output = self.drop(output)
            decoded = self.decoder(output)
            return decoded, hidden

        def init_hidden(self, bsz):
            weight = next(self.parameters())
            if self.rnn_type == 'LSTM':
                return (weight.new_zeros(self.nlayers, bsz, self.nhid),
                        weight.new_zeros(self.nlayers, bsz, self.nhid))
            else:
                return weight.new_zeros(self.nlayers, bsz, self.nhid)

    return {"model": RNNModel('LSTM', ntokens, emsize, nhid, nlayers, dropout, tie_weights=True)}


def run(torch, nn, F, optim, data, steps, models, rng, lr=20.0, clip=0.25, bptt=5,
        batch_size=4, eval_batch_size=2, no_cuda=False):
    device = torch.device("cuda" if not no_cuda and torch.cuda.is_available() else "cpu")
    corpus = rng.randint(0, ntokens, (240,))        # the tokenized text

    def batchify(data, bsz):
        # Work out how cleanly we can divide the dataset into bsz parts.
        nbatch = data.size(0) // bsz
        # Trim off any extra elements that wouldn't cleanly fit (remainders).
        data = data.narrow(0, 0, nbatch * bsz)
        # Evenly divide the data across the bsz batches.
        data = data.view(bsz, -1).t().contiguous()
        return data.to(device)

    train_data = batchify(corpus[:200], batch_size)
    val_data = batchify(corpus[200:], eval_batch_size)
    model = models["model"].to(device)
    criterion = nn.CrossEntropyLoss()

    def repackage_hidden(h):
        """Wraps hidden states in new Tensors, to detach them from their history."""
        if isinstance(h, torch.Tensor):
            return h.detach()
        else:
            return tuple(repackage_hidden(v) for v in h)

    def get_batch(source, i):
        seq_len = min(bptt, len(source) - 1 - i)
        data = source[i:i + seq_len]
        target = source[i + 1:i + 1 + seq_len].view(-1)
        return data, target

    def evaluate(data_source):
        # Turn on evaluation mode which disables dropout.
        model.eval()
        total_loss = 0.
        hidden = model.init_hidden(eval_batch_size)
        with torch.no_grad():
            for i in range(0, data_source.size(0) - 1, bptt):
                data, targets = get_batch(data_source, i)
                output, hidden = model(data, hidden)
                hidden = repackage_hidden(hidden)
                output_flat = output.view(-1, ntokens)
                total_loss += len(data) * criterion(output_flat, targets).item()
        return total_loss / (len(data_source) - 1)

    def train():
        # Turn on training mode which enables dropout.
        model.train()
        losses = []
        hidden = model.init_hidden(batch_size)
        for batch, i in enumerate(range(0, train_data.size(0) - 1, bptt)):
            if batch == steps:
                break
            data, targets = get_batch(train_data, i)
            # Starting each batch, we detach the hidden state from how it was previously
            # produced. If we didn't, the model would try backpropagating all the way to
            # start of the dataset.
            hidden = repackage_hidden(hidden)
            model.zero_grad()
            output, hidden = model(data, hidden)
            loss = criterion(output.view(-1, ntokens), targets)
            loss.backward()

            # `clip_grad_norm` helps prevent the exploding gradient problem in RNNs / LSTMs.
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            for p in model.parameters():
                p.data.add_(-lr, p.grad.data)
            losses.append(loss.item())
        return losses

    train_losses, val_losses = [], []
    for epoch in range(1, 3):
        train_losses += train()
        val_loss = evaluate(val_data)
        val_losses.append(val_loss)
        # Anneal the learning rate if no improvement has been seen in the validation dataset.
        if len(val_losses) > 1 and val_loss >= min(val_losses[:-1]):
            lr /= 4.0
    assert model.decoder.weight is model.encoder.weight
    return {"train_losses": train_losses, "val_losses": val_losses}
