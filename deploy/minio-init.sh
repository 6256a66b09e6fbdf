#!/bin/sh
# One-shot job (service minio-init): create MLflow's bucket and a MinIO user that may
# use that bucket only, so the MLflow server never holds MinIO's root credentials.
# Safe to run on every `docker compose up`: each step accepts an existing result.
set -eu

: "${MINIO_ROOT_USER:?}" "${MINIO_ROOT_PASSWORD:?}" "${MLFLOW_BUCKET:?}"
: "${MLFLOW_S3_ACCESS_KEY:?}" "${MLFLOW_S3_SECRET_KEY:?}"
policy=mlflow-artifacts

mc alias set store http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD"
mc mb --ignore-existing "store/$MLFLOW_BUCKET"

cat > /tmp/policy.json <<JSON
{
  "Version": "2012-10-17",
  "Statement": [{
    "Effect": "Allow",
    "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:GetObject", "s3:PutObject",
               "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
    "Resource": ["arn:aws:s3:::$MLFLOW_BUCKET", "arn:aws:s3:::$MLFLOW_BUCKET/*"]
  }]
}
JSON
mc admin policy create store "$policy" /tmp/policy.json
mc admin user add store "$MLFLOW_S3_ACCESS_KEY" "$MLFLOW_S3_SECRET_KEY"
mc admin policy attach store "$policy" --user "$MLFLOW_S3_ACCESS_KEY" \
  || mc admin user info store "$MLFLOW_S3_ACCESS_KEY" | grep -q "$policy"
