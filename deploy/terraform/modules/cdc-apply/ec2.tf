# The box: Amazon Linux 2023 by default, IMDSv2 only, encrypted volumes, no inbound unless metrics_cidr_blocks is set,
# and a separate EBS volume for the state file so that replacing the instance keeps the watermark.

data "aws_ssm_parameter" "ami" {
  count = var.ami_id == null ? 1 : 0
  name  = var.ami_ssm_parameter
}

data "aws_subnet" "box" {
  id = var.subnet_id
}

resource "aws_security_group" "box" {
  name        = "${var.name}-box"
  description = "cdc-apply box: HTTPS out; metrics in only from metrics_cidr_blocks"
  vpc_id      = var.vpc_id
  tags        = local.tags
}

resource "aws_vpc_security_group_egress_rule" "https" {
  #checkov:skip=CKV_AWS_382:the box reaches S3, KMS, STS, the package registry and the Node.js download over HTTPS only, at addresses that are not fixed
  security_group_id = aws_security_group.box.id
  description       = "HTTPS to AWS APIs (S3, KMS, STS), the package registry and nodejs.org"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_ingress_rule" "metrics" {
  for_each          = toset(var.metrics_cidr_blocks)
  security_group_id = aws_security_group.box.id
  description       = "Prometheus scrape of /metrics and /healthz"
  ip_protocol       = "tcp"
  from_port         = var.metrics_port
  to_port           = var.metrics_port
  cidr_ipv4         = each.value
}

resource "aws_ebs_volume" "state" {
  availability_zone = data.aws_subnet.box.availability_zone
  size              = var.state_volume_size_gb
  type              = "gp3"
  encrypted         = true
  kms_key_id        = local.kms_key_arn
  tags              = merge(local.tags, { Name = "${var.name}-state" })
}

resource "aws_instance" "box" {
  #checkov:skip=CKV_AWS_126:detailed (1-minute) monitoring costs extra; the daemon's own /metrics and /healthz are the signals to watch
  ami                         = var.ami_id != null ? var.ami_id : nonsensitive(data.aws_ssm_parameter.ami[0].value)
  instance_type               = var.instance_type
  subnet_id                   = var.subnet_id
  vpc_security_group_ids      = [aws_security_group.box.id]
  iam_instance_profile        = aws_iam_instance_profile.box.name
  associate_public_ip_address = var.associate_public_ip
  ebs_optimized               = true
  monitoring                  = false
  user_data                   = module.render.user_data
  user_data_replace_on_change = true

  metadata_options {
    http_tokens                 = "required"
    http_endpoint               = "enabled"
    http_put_response_hop_limit = 1
  }

  root_block_device {
    volume_type = "gp3"
    volume_size = var.root_volume_size_gb
    encrypted   = true
    kms_key_id  = local.kms_key_arn
  }

  tags = merge(local.tags, { Name = var.name })

  lifecycle {
    precondition {
      condition     = (var.package_source != "") != (var.package_s3_uri != "")
      error_message = "Set exactly one of package_source (https URL or npm spec) and package_s3_uri (s3:// URI of the npm pack tarball)."
    }
    # a newer AMI in the SSM parameter must not replace a running box behind the operator's back
    ignore_changes = [ami]
  }
}

resource "aws_volume_attachment" "state" {
  device_name = "/dev/sdf"
  volume_id   = aws_ebs_volume.state.id
  instance_id = aws_instance.box.id
  # a replaced box is stopped first (systemd sends the daemon its SIGTERM) so the volume never leaves mid-write
  stop_instance_before_detaching = true
}
