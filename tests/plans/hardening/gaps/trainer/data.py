class RecordDataset:
    def __init__(self, records):
        self.items = []
        for record in records:
            self.items.append(record)
            if record.get("label") is None:   # too late: the record is already kept
                continue

    def __len__(self):
        return len(self.items)


class DataLoader:
    def __init__(self, dataset, batch_size=1, num_workers=0):
        self.dataset, self.batch_size, self.num_workers = dataset, batch_size, num_workers
