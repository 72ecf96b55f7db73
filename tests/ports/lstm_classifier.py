"""An LSTM that reads an MNIST image row by row and classifies it from its last hidden
state, after yunjey/pytorch-tutorial tutorials/02-intermediate/recurrent_neural_network:
nn.LSTM(batch_first=True, num_layers=2) from zero initial states, the last time step's
output through nn.Linear, CrossEntropyLoss, Adam, and the test loop's
`_, predicted = torch.max(outputs.data, 1)`. Smaller hidden size than the original.
"""
sequence_length = 28
input_size = 28
num_classes = 10


def build(torch, nn, F, rng, hidden_size=32, num_layers=2):
    # Recurrent neural network (many-to-one)
    class RNN(nn.Module):
        def __init__(self, input_size, hidden_size, num_layers, num_classes):
            super(RNN, self).__init__()
            self.hidden_size = hidden_size
            self.num_layers = num_layers
            self.lstm = nn.LSTM(input_size, hidden_size, num_layers, batch_first=True)
            self.fc = nn.Linear(hidden_size, num_classes)

        def forward(self, x):
            # Set initial hidden and cell states
            h0 = torch.zeros(self.num_layers, x.size(0), self.hidden_size)
            c0 = torch.zeros(self.num_layers, x.size(0), self.hidden_size)
            if x.is_cuda or x.is_xpu:
                h0, c0 = h0.to(x.device), c0.to(x.device)

            # Forward propagate LSTM
            out, _ = self.lstm(x, (h0, c0))  # out: (batch_size, seq_length, hidden_size)

            # Decode the hidden state of the last time step
            out = self.fc(out[:, -1, :])
            return out

    return {"model": RNN(input_size, hidden_size, num_layers, num_classes)}


def run(torch, nn, F, optim, data, steps, models, rng, learning_rate=0.01, no_cuda=False):
    device = torch.device('cuda' if not no_cuda and torch.cuda.is_available() else 'cpu')
    dataset = torch.utils.data.TensorDataset(torch.tensor(data["images"]),
                                             torch.tensor(data["labels"]))
    train_loader = torch.utils.data.DataLoader(dataset=dataset, batch_size=8, shuffle=False)
    test_loader = torch.utils.data.DataLoader(dataset=dataset, batch_size=16, shuffle=False)
    model = models["model"].to(device)

    # Loss and optimizer
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)

    # Train the model
    losses = []
    for i, (images, labels) in enumerate(train_loader):
        if i == steps:
            break
        images = images.reshape(-1, sequence_length, input_size).to(device)
        labels = labels.to(device)

        # Forward pass
        outputs = model(images)
        loss = criterion(outputs, labels)

        # Backward and optimize
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())

    # Test the model
    with torch.no_grad():
        correct = 0
        total = 0
        logit_sum = 0.0
        for images, labels in test_loader:
            images = images.reshape(-1, sequence_length, input_size).to(device)
            labels = labels.to(device)
            outputs = model(images)
            _, predicted = torch.max(outputs.data, 1)
            total += labels.size(0)
            correct += (predicted == labels).sum().item()
            logit_sum += outputs.data.sum().item()
    return {"losses": losses, "correct": correct, "total": total, "logit_sum": logit_sum}
