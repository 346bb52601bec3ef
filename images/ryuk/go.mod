module kafkalab/ryuk

go 1.19
