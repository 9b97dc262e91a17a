class RecordDataset:
    def __init__(self, records):
        self.items = []
        for record in records:
            if record.get("label") is None:
                continue
            self.items.append(record)

    def __len__(self):
        return len(self.items)


class DataLoader:
    def __init__(self, dataset, batch_size=1, num_workers=0):
        self.dataset, self.batch_size, self.num_workers = dataset, batch_size, num_workers
