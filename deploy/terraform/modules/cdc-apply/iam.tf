# The box's role: exactly the least-privilege policy of docs/config.md (rendered from the same template the docs
# show, test/deploy.test.ts keeps them equal), plus Glue when the catalog is enabled, plus reading the package
# tarball when it is installed from S3.

data "aws_iam_policy_document" "assume_ec2" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "box" {
  name               = "${var.name}-box"
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json
  tags               = local.tags
}

resource "aws_iam_role_policy" "cdc_apply" {
  name   = "cdc-apply"
  role   = aws_iam_role.box.id
  policy = module.render.iam_policy
}

data "aws_iam_policy_document" "glue" {
  count = var.enable_glue_catalog ? 1 : 0
  statement {
    sid = "GlueCatalog"
    # exactly the GlueCatalog statement of docs/config.md (test/deploy.test.ts keeps them equal)
    actions = [
      "glue:GetTable",
      "glue:CreateTable",
      "glue:UpdateTable",
    ]
    resources = [
      "arn:${local.partition}:glue:${local.region}:${local.account}:catalog",
      "arn:${local.partition}:glue:${local.region}:${local.account}:database/${var.glue_database}",
      "arn:${local.partition}:glue:${local.region}:${local.account}:table/${var.glue_database}/*",
    ]
  }
}

resource "aws_iam_role_policy" "glue" {
  count  = var.enable_glue_catalog ? 1 : 0
  name   = "glue-catalog"
  role   = aws_iam_role.box.id
  policy = data.aws_iam_policy_document.glue[0].json
}

locals {
  package_object = trimprefix(var.package_s3_uri, "s3://")
}

data "aws_iam_policy_document" "package" {
  count = var.package_s3_uri != "" ? 1 : 0
  statement {
    sid       = "ReadPackageTarball"
    actions   = ["s3:GetObject"]
    resources = ["arn:${local.partition}:s3:::${local.package_object}"]
  }
}

resource "aws_iam_role_policy" "package" {
  count  = var.package_s3_uri != "" ? 1 : 0
  name   = "package-tarball"
  role   = aws_iam_role.box.id
  policy = data.aws_iam_policy_document.package[0].json
}

resource "aws_iam_role_policy_attachment" "ssm" {
  count      = var.ssm_session_manager ? 1 : 0
  role       = aws_iam_role.box.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_instance_profile" "box" {
  name = "${var.name}-box"
  role = aws_iam_role.box.name
  tags = local.tags
}
