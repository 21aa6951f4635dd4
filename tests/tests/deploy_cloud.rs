//! Infrastructure as code: CloudFormation templates (cfn-lint clean, and the properties the
//! evidence chain relies on), the Automation runbooks (every reference resolves, every step
//! exists, scripts compile), and the EventBridge patterns (matched against sample events, their
//! input templates producing valid runbook parameters).

mod deploy_support;

use deploy_support::{full_match, repo_root, show, tool, yaml_file};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

const TEMPLATES: [&str; 4] = [
    "packaging/cloudformation/evidence-bucket.yaml",
    "packaging/automation/incident-response.yaml",
    "packaging/pretermination/pretermination.yaml",
    "packaging/athena/analysis.yaml",
];

/// The CloudFormation templates pass cfn-lint (skipped when cfn-lint is absent).
#[test]
fn cloudformation_templates_are_cfn_lint_clean() {
    let Some(cfn_lint) = tool("cfn-lint") else {
        return;
    };
    let out = Command::new(cfn_lint)
        .args(TEMPLATES)
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert!(out.status.success(), "cfn-lint: {}", show(&out));
}

fn statements(policy: &Value) -> Vec<Value> {
    policy["Statement"].as_array().unwrap().clone()
}

fn as_list(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| x.to_string())
            })
            .collect(),
        Value::String(s) => vec![s.clone()],
        other => vec![other.to_string()],
    }
}

/// [security] The evidence bucket template keeps the bucket, locks objects (compliance by default),
/// versions, blocks public access, denies plain HTTP and deletes, lets an instance only put under
/// its own user id, and the responder read but not write.
#[test]
fn evidence_bucket_locks_encrypts_and_scopes_writes_per_instance() {
    let t = yaml_file(TEMPLATES[0]);
    let p = &t["Parameters"];
    assert_eq!(p["RetentionMode"]["Default"], "COMPLIANCE");
    assert_eq!(
        as_list(&p["RetentionMode"]["AllowedValues"]),
        ["COMPLIANCE", "GOVERNANCE"]
    );
    let r = &t["Resources"];
    let bucket = &r["EvidenceBucket"];
    assert_eq!(bucket["DeletionPolicy"], "Retain");
    let b = &bucket["Properties"];
    assert_eq!(b["ObjectLockEnabled"], true);
    assert_eq!(b["ObjectLockConfiguration"]["ObjectLockEnabled"], "Enabled");
    let retention = &b["ObjectLockConfiguration"]["Rule"]["DefaultRetention"];
    assert_eq!(retention["Mode"], json!({"!Ref": "RetentionMode"}));
    assert_eq!(retention["Days"], json!({"!Ref": "RetentionDays"}));
    assert_eq!(b["VersioningConfiguration"]["Status"], "Enabled");
    let sse = &b["BucketEncryption"]["ServerSideEncryptionConfiguration"][0];
    assert_eq!(
        sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"],
        "aws:kms"
    );
    assert!(
        sse["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]["!If"].is_array(),
        "new or given key"
    );
    for k in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(b["PublicAccessBlockConfiguration"][k], true, "{k}");
    }
    let rule = &b["LifecycleConfiguration"]["Rules"][0];
    assert_eq!(
        rule["Transitions"][0]["StorageClass"],
        json!({"!Ref": "ArchiveStorageClass"})
    );
    assert!(as_list(&p["ArchiveStorageClass"]["AllowedValues"])
        .iter()
        .all(|c| c.contains("GLACIER") || c == "DEEP_ARCHIVE"));

    let policy = &r["EvidenceBucketPolicy"]["Properties"]["PolicyDocument"];
    let st = statements(policy);
    let tls = st
        .iter()
        .find(|s| s["Condition"]["Bool"]["aws:SecureTransport"] == "false")
        .expect("TLS-only statement");
    assert_eq!(tls["Effect"], "Deny");
    assert_eq!(tls["Action"], "s3:*");
    let deletes = st
        .iter()
        .find(|s| as_list(&s["Action"]).contains(&"s3:DeleteObjectVersion".to_owned()))
        .expect("version-delete statement");
    assert_eq!(deletes["Effect"], "Deny");
    assert_eq!(deletes["Principal"], "*");
    assert!(
        deletes.get("Condition").is_none(),
        "version deletes are denied unconditionally"
    );

    // The instance may only put (and abort its uploads) under PREFIX/CASE/${aws:userid}/, and
    // nowhere else its user id could be placed deeper in a key.
    let inst = statements(&r["InstanceWritePolicy"]["Properties"]["PolicyDocument"]);
    assert_eq!(inst.len(), 2);
    for s in &inst {
        let mut actions = as_list(&s["Action"]);
        actions.sort();
        assert_eq!(actions, ["s3:AbortMultipartUpload", "s3:PutObject"]);
        assert!(!s["Action"].to_string().contains('*'));
    }
    assert_eq!(inst[0]["Effect"], "Allow");
    let allow = inst[0]["Resource"]["!Sub"].as_str().unwrap();
    assert_eq!(allow, "${EvidenceBucket.Arn}/${Prefix}/*/${!aws:userid}/*");
    assert_eq!(inst[1]["Effect"], "Deny");
    let deny = inst[1]["Resource"]["!Sub"].as_str().unwrap();
    assert_eq!(deny, "${EvidenceBucket.Arn}/${Prefix}/*/*/${!aws:userid}/*");
    // Evaluate the two patterns as IAM does ('*' matches any run of characters, '/' too).
    let arn = |key: &str| format!("arn:aws:s3:::b/{key}");
    let sub = |p: &str| {
        p.replace("${EvidenceBucket.Arn}", "arn:aws:s3:::b")
            .replace("${Prefix}", "evidence")
            .replace("${!aws:userid}", "AROAX:i-1")
    };
    let allowed = |key: &str| iam_glob(&sub(allow), &arn(key)) && !iam_glob(&sub(deny), &arn(key));
    assert!(allowed(
        "evidence/IR-7/AROAX:i-1/i-1/20261204T000000Z-ab/manifest.json"
    ));
    assert!(!allowed(
        "evidence/IR-7/AROAX:i-2/i-2/20261204T000000Z-ab/manifest.json"
    ));
    assert!(!allowed(
        "evidence/IR-7/AROAX:i-2/i-2/c/AROAX:i-1/manifest.json"
    ));
    assert!(!allowed("evidence/AROAX:i-1/x"));
    assert!(!allowed("other/IR-7/AROAX:i-1/x"));

    // The responder reads and verifies but cannot write or delete evidence.
    let resp = &r["ResponderRole"]["Properties"]["Policies"][0]["PolicyDocument"];
    let resp_actions: BTreeSet<String> = statements(resp)
        .iter()
        .flat_map(|s| as_list(&s["Action"]))
        .collect();
    assert!(
        resp_actions.contains("s3:GetObject")
            && resp_actions.contains("s3:ListBucket")
            && resp_actions.contains("kms:Decrypt")
    );
    for a in &resp_actions {
        assert!(
            !a.contains('*') && !a.starts_with("s3:Delete") && !a.starts_with("s3:Put"),
            "responder may {a}"
        );
    }
    // Legal holds (which also release them) are a policy of their own, attached to no role.
    let hold = &r["LegalHoldPolicy"];
    assert_eq!(hold["Type"], "AWS::IAM::ManagedPolicy");
    let hold_actions: BTreeSet<String> = statements(&hold["Properties"]["PolicyDocument"])
        .iter()
        .flat_map(|s| as_list(&s["Action"]))
        .collect();
    assert!(hold_actions.contains("s3:PutObjectLegalHold"));
    for a in &hold_actions {
        assert!(
            a == "s3:PutObjectLegalHold" || a.starts_with("s3:Get") || a.starts_with("s3:List"),
            "legal-hold policy may {a}"
        );
    }
    assert!(hold["Properties"].get("Roles").is_none());
    let hold_ref = json!({"!Ref": "LegalHoldPolicy"});
    for (name, res) in r.as_object().unwrap() {
        if res["Type"] == "AWS::IAM::Role" {
            let attached = res["Properties"]["ManagedPolicyArns"].as_array();
            assert!(
                !attached.is_some_and(|a| a.contains(&hold_ref)),
                "{name} has the legal-hold policy"
            );
        }
    }
    // No policy attached to the responder role puts anything either.
    for p in r["ResponderRole"]["Properties"]["ManagedPolicyArns"]
        .as_array()
        .unwrap()
    {
        let name = p["!Ref"].as_str().unwrap();
        for s in statements(&r[name]["Properties"]["PolicyDocument"]) {
            let s = if s.get("!If").is_some() {
                s["!If"][1].clone()
            } else {
                s
            };
            for a in as_list(&s["Action"]) {
                assert!(!a.starts_with("s3:"), "responder's {name} may {a}");
            }
        }
    }
}

/// [security] The instance may read the one tools object it is given (no wildcard, nothing when no object
/// is given); the operator policy sends only the vestige documents and the Distributor
/// installer, starts only the incident runbook, and passes only the given automation role.
#[test]
fn evidence_stack_grants_the_tools_object_and_the_vestige_documents_only() {
    let t = yaml_file(TEMPLATES[0]);
    let p = &t["Parameters"];
    let r = &t["Resources"];

    let tools = p["ToolsObjectArn"]["AllowedPattern"].as_str().unwrap();
    assert_eq!(p["ToolsObjectArn"]["Default"], "");
    for good in [
        "",
        "arn:aws:s3:::tools-bucket/vestige/0.1.0/vestige",
        "arn:aws-cn:s3:::tools.example/vestige",
    ] {
        assert!(full_match(tools, good), "{good:?}");
    }
    for bad in [
        "arn:aws:s3:::tools-bucket/*",
        "arn:aws:s3:::tools-bucket/vestige/*/vestige",
        "arn:aws:s3:::tools-bucket",
        "arn:aws:s3:::tools-bucket/",
        "arn:aws:s3:::*/vestige",
        "s3://tools-bucket/vestige",
    ] {
        assert!(!full_match(tools, bad), "{bad:?} passes {tools}");
    }
    assert_eq!(
        t["Conditions"]["GrantToolsRead"],
        json!({"!Not": [{"!Equals": [{"!Ref": "ToolsObjectArn"}, ""]}]})
    );
    let read = &r["ToolsReadPolicy"];
    assert_eq!(read["Type"], "AWS::IAM::ManagedPolicy");
    assert_eq!(read["Condition"], "GrantToolsRead");
    let st = statements(&read["Properties"]["PolicyDocument"]);
    assert_eq!(st.len(), 1);
    assert_eq!(st[0]["Effect"], "Allow");
    assert_eq!(as_list(&st[0]["Action"]), ["s3:GetObject"]);
    assert_eq!(st[0]["Resource"], json!({"!Ref": "ToolsObjectArn"}));
    assert!(st[0].get("Condition").is_none());
    let attached = r["InstanceRole"]["Properties"]["ManagedPolicyArns"]
        .as_array()
        .unwrap();
    assert!(
        attached.contains(&json!({"!If": ["GrantToolsRead", {"!Ref": "ToolsReadPolicy"}, {"!Ref": "AWS::NoValue"}]})),
        "{attached:?}"
    );
    assert_eq!(
        t["Outputs"]["ToolsReadPolicyArn"]["Condition"],
        "GrantToolsRead"
    );

    // The operator policy, attached to the responder role.
    let op = &r["OperatorPolicy"];
    assert_eq!(op["Type"], "AWS::IAM::ManagedPolicy");
    assert!(r["ResponderRole"]["Properties"]["ManagedPolicyArns"]
        .as_array()
        .unwrap()
        .contains(&json!({"!Ref": "OperatorPolicy"})));
    let st = statements(&op["Properties"]["PolicyDocument"]);
    let by_sid = |sid: &str| -> &Value {
        st.iter()
            .find(|s| s["Sid"] == sid || s["!If"][1]["Sid"] == sid)
            .unwrap_or_else(|| panic!("no statement {sid}"))
    };
    let mut actions: BTreeSet<String> = BTreeSet::new();
    for s in &st {
        let s = if s.get("!If").is_some() {
            &s["!If"][1]
        } else {
            s
        };
        assert_eq!(s["Effect"], "Allow");
        for a in as_list(&s["Action"]) {
            assert!(!a.contains('*'), "wildcard action {a}");
            actions.insert(a);
        }
    }
    for a in [
        "ssm:SendCommand",
        "ssm:StartAutomationExecution",
        "ssm:GetCommandInvocation",
        "ssm:ListCommandInvocations",
        "iam:PassRole",
    ] {
        assert!(actions.contains(a), "operator lacks {a}");
    }
    for a in &actions {
        assert!(
            !a.starts_with("s3:") && !a.starts_with("kms:"),
            "the operator policy grants {a}: evidence access belongs to the responder role"
        );
    }
    let resources = |s: &Value| -> Vec<String> {
        match &s["Resource"] {
            Value::Array(a) => a
                .iter()
                .map(|x| {
                    x["!Sub"]
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| x.to_string())
                })
                .collect(),
            x => vec![x["!Sub"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| x.to_string())],
        }
    };
    let send = by_sid("SendTheVestigeDocuments");
    assert_eq!(as_list(&send["Action"]), ["ssm:SendCommand"]);
    let docs: Vec<String> = resources(send)
        .into_iter()
        .filter(|r| r.contains(":document/"))
        .collect();
    assert_eq!(
        docs,
        [
            "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:document/${CollectDocumentName}",
            "arn:${AWS::Partition}:ssm:${AWS::Region}::document/AWS-ConfigureAWSPackage",
        ],
        "SendCommand reaches only the collect document and the Distributor installer"
    );
    assert!(resources(send).iter().all(|r| r.contains(":document/")
        || r.ends_with(":instance/*")
        || r.ends_with(":managed-instance/*")));
    let start = by_sid("StartTheIncidentRunbook");
    assert_eq!(as_list(&start["Action"]), ["ssm:StartAutomationExecution"]);
    assert_eq!(
        resources(start),
        ["arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:automation-definition/${IncidentRunbookName}:*"]
    );
    // Only the actions IAM cannot scope to a resource get "*".
    for s in &st {
        if s["Resource"] == "*" {
            for a in as_list(&s["Action"]) {
                assert!(
                    [
                        "ssm:GetCommandInvocation",
                        "ssm:ListCommandInvocations",
                        "ssm:ListCommands",
                        "ssm:DescribeInstanceInformation"
                    ]
                    .contains(&a.as_str()),
                    "{a} on every resource"
                );
            }
        }
    }
    let pass = &op["Properties"]["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s.get("!If").is_some())
        .expect("a conditional PassRole statement")["!If"];
    assert_eq!(pass[0], "PassAutomationRole");
    assert_eq!(pass[2], json!({"!Ref": "AWS::NoValue"}));
    assert_eq!(pass[1]["Action"], "iam:PassRole");
    assert_eq!(pass[1]["Resource"], json!({"!Ref": "AutomationRoleArn"}));
    assert_eq!(
        pass[1]["Condition"]["StringEquals"]["iam:PassedToService"],
        "ssm.amazonaws.com"
    );
    // Every output and parameter the README's Deploy commands name exists.
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let deploy = &readme[readme.find("## Deploy").unwrap()..];
    let deploy = &deploy[..deploy.find("\n## ").unwrap_or(deploy.len())];
    let mut named = 0;
    for (i, _) in deploy.match_indices("$(out ") {
        let name: String = deploy[i + 6..]
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect();
        assert!(t["Outputs"][&name].is_object(), "README uses output {name}");
        named += 1;
    }
    assert!(named >= 6, "{named}");
    let stack_deploy = &deploy[deploy.find("--stack-name vestige-evidence").unwrap()..];
    let stack_deploy = &stack_deploy[..stack_deploy.find("```").unwrap()];
    for word in stack_deploy.split_whitespace() {
        if let Some((k, _)) = word.split_once('=') {
            if k.chars().all(|c| c.is_ascii_alphanumeric()) && k.starts_with(char::is_uppercase) {
                assert!(p[k].is_object(), "README passes parameter {k}");
            }
        }
    }
    assert!(stack_deploy.contains("ToolsObjectArn="));

    // The names default to the ones the README creates the documents under.
    assert_eq!(p["CollectDocumentName"]["Default"], "vestige-collect");
    assert_eq!(
        p["IncidentRunbookName"]["Default"],
        "vestige-incident-response"
    );
    assert_eq!(p["DistributorPackageName"]["Default"], "vestige");
    for name in [
        "CollectDocumentName",
        "IncidentRunbookName",
        "DistributorPackageName",
    ] {
        let pat = p[name]["AllowedPattern"].as_str().unwrap();
        assert!(
            !full_match(pat, "*") && !full_match(pat, "vestige-*"),
            "{name}"
        );
    }
}

/// [security] The analysis stack: a private, encrypted, TLS-only bucket whose index prefix the responder
/// writes (exactly where index-case.py puts symlink manifests) and whose results prefix alone
/// expires; an Athena workgroup that enforces its result location; Glue and Athena rights
/// scoped to the one database and workgroup; nothing that writes outside the analysis bucket.
#[test]
fn analysis_stack_indexes_and_queries_without_writing_evidence() {
    let t = yaml_file(TEMPLATES[3]);
    let p = &t["Parameters"];
    let r = &t["Resources"];
    let b = &r["AnalysisBucket"]["Properties"];
    for k in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(b["PublicAccessBlockConfiguration"][k], true, "{k}");
    }
    assert!(
        b["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
            ["ServerSideEncryptionByDefault"]["SSEAlgorithm"]
            .is_string()
    );
    let rules = b["LifecycleConfiguration"]["Rules"].as_array().unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0]["Prefix"], json!({"!Sub": "${ResultsPrefix}/"}));
    assert_ne!(p["IndexPrefix"]["Default"], p["ResultsPrefix"]["Default"]);
    let tls = statements(&r["AnalysisBucketPolicy"]["Properties"]["PolicyDocument"]);
    assert!(
        tls.iter()
            .any(|s| s["Effect"] == "Deny"
                && s["Condition"]["Bool"]["aws:SecureTransport"] == "false")
    );

    // The names and locations the README's commands and index-case.py use.
    assert_eq!(p["DatabaseName"]["Default"], "vestige");
    assert_eq!(p["IndexPrefix"]["Default"], "vestige-index");
    assert_eq!(p["WorkGroupName"]["Default"], "vestige");
    assert_eq!(
        r["Database"]["Properties"]["DatabaseInput"]["Name"],
        json!({"!Ref": "DatabaseName"})
    );
    let wg = &r["WorkGroup"]["Properties"]["WorkGroupConfiguration"];
    assert_eq!(wg["EnforceWorkGroupConfiguration"], true);
    assert_eq!(
        wg["ResultConfiguration"]["OutputLocation"],
        json!({"!Sub": "s3://${AnalysisBucket}/${ResultsPrefix}/"})
    );
    assert!(wg["ResultConfiguration"]["EncryptionConfiguration"]["EncryptionOption"].is_string());
    assert_eq!(
        t["Outputs"]["IndexLocation"]["Value"],
        json!({"!Sub": "s3://${AnalysisBucket}/${IndexPrefix}/"})
    );

    // The policy, attached to the responder role when its name is given.
    let pol = &r["AnalystPolicy"]["Properties"];
    assert_eq!(
        pol["Roles"],
        json!({"!If": ["AttachToResponder", [{"!Ref": "ResponderRoleName"}], {"!Ref": "AWS::NoValue"}]})
    );
    let st = statements(&pol["PolicyDocument"]);
    let sub = |v: &Value| -> Vec<String> {
        let one = |x: &Value| {
            if let Some(s) = x["!Sub"].as_str() {
                s.replace("${AnalysisBucket.Arn}", "arn:aws:s3:::analysis")
                    .replace("${AnalysisBucket}", "analysis")
                    .replace("${IndexPrefix}", "vestige-index")
                    .replace("${ResultsPrefix}", "athena-results")
                    .replace("${Database}", "vestige")
                    .replace("${WorkGroup}", "vestige")
                    .replace("${AWS::Partition}", "aws")
                    .replace("${AWS::Region}", "us-east-1")
                    .replace("${AWS::AccountId}", "123456789012")
            } else if x["!GetAtt"] == "AnalysisBucket.Arn" {
                "arn:aws:s3:::analysis".to_owned()
            } else {
                x.as_str().unwrap_or_default().to_owned()
            }
        };
        match v {
            Value::Array(a) => a.iter().map(one).collect(),
            x => vec![one(x)],
        }
    };
    let may = |action: &str, resource: &str| {
        st.iter().any(|s| {
            s["Effect"] == "Allow"
                && as_list(&s["Action"]).iter().any(|a| a == action)
                && sub(&s["Resource"]).iter().any(|p| iam_glob(p, resource))
        })
    };
    let obj = |bucket: &str, key: &str| format!("arn:aws:s3:::{bucket}/{key}");
    let link = "vestige-index/processes/case_id=IR-9/host_id=i-1/collection_id=20261204T000000Z-ab/symlink.txt";
    assert!(may("s3:PutObject", &obj("analysis", link)));
    assert!(may("s3:GetObject", &obj("analysis", link)));
    assert!(may(
        "s3:PutObject",
        &obj("analysis", "athena-results/q.csv")
    ));
    assert!(may(
        "s3:GetObject",
        &obj("analysis", "athena-results/q.csv")
    ));
    for (bucket, key) in [
        ("analysis", "elsewhere/x"),
        ("vestige-evidence-123456789012-us-east-1", "evidence/IR-9/x"),
        ("vestige-evidence-123456789012-us-east-1", link),
    ] {
        assert!(!may("s3:PutObject", &obj(bucket, key)), "{bucket}/{key}");
    }
    let mut actions = BTreeSet::new();
    for s in &st {
        assert_eq!(s["Effect"], "Allow");
        for a in as_list(&s["Action"]) {
            assert!(!a.contains('*'), "wildcard action {a}");
            assert!(
                !a.starts_with("s3:Delete")
                    && !a.starts_with("glue:Delete")
                    && !a.starts_with("kms:"),
                "{a}"
            );
            actions.insert(a);
        }
        for res in sub(&s["Resource"]) {
            assert_ne!(res, "*", "{s}");
            assert!(
                res.starts_with("arn:aws:s3:::analysis")
                    || res == "arn:aws:athena:us-east-1:123456789012:workgroup/vestige"
                    || res.starts_with("arn:aws:glue:us-east-1:123456789012:"),
                "{res}"
            );
            if let Some(glue) = res.strip_prefix("arn:aws:glue:us-east-1:123456789012:") {
                assert!(
                    ["catalog", "database/vestige", "table/vestige/*"].contains(&glue),
                    "{glue}"
                );
            }
        }
    }
    // The README's deploy command passes only this template's parameters.
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let cmd = &readme[readme
        .find("--template-file packaging/athena/analysis.yaml")
        .unwrap()..];
    let cmd = &cmd[..cmd.find("\nINDEX=").unwrap()];
    let overrides: Vec<&str> = cmd
        .split_whitespace()
        .filter_map(|w| w.split_once('=').map(|(k, _)| k))
        .collect();
    assert_eq!(overrides, ["ResponderRoleName"], "{cmd}");
    assert!(p["ResponderRoleName"].is_object());
    assert_eq!(p["BytesScannedCutoffPerQuery"]["Default"], 100u64 << 30);
    for a in [
        "athena:StartQueryExecution",
        "athena:GetQueryResults",
        "glue:CreateTable",
        "glue:BatchCreatePartition",
        "glue:GetPartitions",
        "s3:ListBucket",
    ] {
        assert!(actions.contains(a), "analyst lacks {a}");
    }
}

// ---- Automation runbooks -------------------------------------------------------------

const KNOWN_ACTIONS: [&str; 7] = [
    "aws:createTags",
    "aws:executeScript",
    "aws:runCommand",
    "aws:branch",
    "aws:executeAwsApi",
    "aws:sleep",
    "aws:waitForAwsResourceProperty",
];

/// Every `{{ ref }}` in a value.
fn references(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => {
            let mut rest = s.as_str();
            while let Some(i) = rest.find("{{") {
                let tail = &rest[i + 2..];
                let j = tail.find("}}").expect("unclosed {{");
                out.push(tail[..j].trim().to_owned());
                rest = &tail[j + 2..];
            }
        }
        Value::Array(a) => a.iter().for_each(|x| references(x, out)),
        Value::Object(m) => m.values().for_each(|x| references(x, out)),
        _ => {}
    }
}

/// Structural checks an Automation runbook must pass; returns its parameters.
fn check_runbook(doc: &Value, what: &str) -> serde_json::Map<String, Value> {
    assert_eq!(doc["schemaVersion"], "0.3", "{what}");
    let params = doc["parameters"].as_object().unwrap().clone();
    for (name, def) in &params {
        if def["type"] == "String" {
            let pat = def["allowedPattern"]
                .as_str()
                .unwrap_or_else(|| panic!("{what}: {name} has no allowedPattern"));
            if let Some(d) = def.get("default") {
                assert!(
                    full_match(pat, d.as_str().unwrap()),
                    "{what}: {name} default fails its pattern"
                );
            }
        }
    }
    let steps = doc["mainSteps"].as_array().unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(
        names.iter().collect::<BTreeSet<_>>().len(),
        names.len(),
        "{what}: duplicate step names"
    );
    let mut outputs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (i, step) in steps.iter().enumerate() {
        let name = names[i];
        let action = step["action"].as_str().unwrap();
        assert!(
            KNOWN_ACTIONS.contains(&action),
            "{what}: {name}: unknown action {action}"
        );
        let targets: Vec<String> = [&step["nextStep"], &step["inputs"]["Default"]]
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .chain(
                step["onFailure"]
                    .as_str()
                    .and_then(|f| f.strip_prefix("step:"))
                    .map(str::to_owned),
            )
            .chain(
                step["inputs"]["Choices"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| c["NextStep"].as_str().unwrap().to_owned()),
            )
            .collect();
        for t in targets {
            let j = names
                .iter()
                .position(|n| *n == t)
                .unwrap_or_else(|| panic!("{what}: {name} goes to missing step {t}"));
            assert!(j > i, "{what}: {name} jumps back to {t}");
        }
        // References resolve to parameters or to outputs of earlier steps.
        let mut refs = Vec::new();
        references(&step["inputs"], &mut refs);
        for r in refs {
            match r.split_once('.') {
                None => assert!(
                    params.contains_key(&r),
                    "{what}: {name} uses unknown parameter {r}"
                ),
                Some((s, o)) => assert!(
                    outputs.get(s).is_some_and(|set| set.contains(o)),
                    "{what}: {name} uses {r}, which no earlier step outputs"
                ),
            }
        }
        let mut outs: BTreeSet<String> = step["outputs"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|o| o["Name"].as_str().unwrap().to_owned())
            .collect();
        if action == "aws:runCommand" {
            outs.extend(["CommandId", "Status", "ResponseCode", "Output"].map(String::from));
        }
        outputs.insert(name.to_owned(), outs);
        if action == "aws:executeScript" {
            let script = step["inputs"]["Script"].as_str().unwrap();
            assert!(
                script.contains("def handler(event, context)"),
                "{what}: {name}"
            );
            if let Some(py) = tool("python3") {
                let out = Command::new(py)
                    .args([
                        "-c",
                        "import sys; compile(sys.stdin.read(), 'step', 'exec')",
                    ])
                    .stdin(std::process::Stdio::piped())
                    .spawn()
                    .and_then(|mut c| {
                        use std::io::Write;
                        c.stdin.take().unwrap().write_all(script.as_bytes())?;
                        c.wait_with_output()
                    })
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{what}: {name} script: {}",
                    show(&out)
                );
            }
        }
    }
    for o in doc["outputs"].as_array().into_iter().flatten() {
        let (s, n) = o.as_str().unwrap().split_once('.').unwrap();
        assert!(
            outputs.get(s).is_some_and(|set| set.contains(n)),
            "{what}: runbook output {s}.{n} does not exist"
        );
    }
    params
}

/// The collect step's parameters must be the collect document's.
fn check_collect_call(doc: &Value) {
    let collect = yaml_file("packaging/ssm/vestige-collect.yaml");
    let step = doc["mainSteps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["action"] == "aws:runCommand")
        .expect("a runCommand step");
    // Candidate values: every number up to a day and a bit, with and without a leading zero,
    // and a few words.
    let candidates: Vec<String> = (0..=90_000u32)
        .map(|n| n.to_string())
        .chain((0..1000u32).map(|n| format!("0{n}")))
        .chain(["", "triage", "minimal", "IR-1", "evidence", "a b"].map(String::from))
        .collect();
    for (k, v) in step["inputs"]["Parameters"].as_object().unwrap() {
        let def = &collect["parameters"][k];
        assert!(
            def.is_object(),
            "runCommand passes {k}, which vestige-collect does not declare"
        );
        let doc_pattern = def["allowedPattern"].as_str().unwrap();
        // A runbook parameter passed straight through must not accept what the document
        // refuses: the runbook would start, then fail at its collect step.
        if let Some(name) = v
            .as_str()
            .and_then(|s| s.strip_prefix("{{"))
            .and_then(|s| s.strip_suffix("}}"))
            .map(str::trim)
        {
            if let Some(runbook_pattern) = doc["parameters"][name]["allowedPattern"].as_str() {
                let runbook = regex::Regex::new(&format!(r"\A(?:{runbook_pattern})\z")).unwrap();
                let document = regex::Regex::new(&format!(r"\A(?:{doc_pattern})\z")).unwrap();
                for c in &candidates {
                    assert!(
                        !runbook.is_match(c) || document.is_match(c),
                        "the runbook's {name} accepts {c:?}, which vestige-collect's {k} refuses"
                    );
                }
            }
        }
        if let Some(s) = v.as_str().filter(|s| !s.contains("{{")) {
            assert!(
                full_match(def["allowedPattern"].as_str().unwrap(), s),
                "{k}={s}"
            );
        }
    }
}

fn step_index(doc: &Value, name: &str) -> usize {
    doc["mainSteps"]
        .as_array()
        .unwrap()
        .iter()
        .position(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step {name}"))
}

/// The incident runbook tags, collects and records the summary before protecting, quarantining,
/// snapshotting and tagging the instance; a failed collection is reported and stops before
/// isolation.
#[test]
fn incident_runbook_collects_records_then_isolates() {
    let doc = yaml_file("packaging/automation/vestige-incident-response.yaml");
    let params = check_runbook(&doc, "vestige-incident-response");
    check_collect_call(&doc);
    assert_eq!(doc["assumeRole"], "{{ AutomationAssumeRole }}");
    assert!(full_match(
        params["InstanceId"]["allowedPattern"].as_str().unwrap(),
        "i-0123456789abcdef0"
    ));
    let order = [
        "tagInstance",
        "collect",
        "recordSummary",
        "protectInstance",
        "quarantine",
        "snapshotVolumes",
        "tagIsolated",
    ];
    let idx: Vec<usize> = order.iter().map(|n| step_index(&doc, n)).collect();
    assert!(
        idx.windows(2).all(|w| w[0] < w[1]),
        "steps out of order: {order:?} at {idx:?}"
    );
    assert!(step_index(&doc, "detachFromAutoScalingGroup") > step_index(&doc, "recordSummary"));
    let steps = doc["mainSteps"].as_array().unwrap();
    let collect = &steps[step_index(&doc, "collect")];
    assert_eq!(
        collect["inputs"]["DocumentName"],
        "{{ CollectDocumentName }}"
    );
    assert_eq!(
        collect["onFailure"], "step:recordSummary",
        "a failed collection is still read and reported"
    );
    let record = &steps[step_index(&doc, "recordSummary")];
    assert!(
        record.get("onFailure").is_none(),
        "a failed collection must stop the runbook before isolation"
    );
    let script = record["inputs"]["Script"].as_str().unwrap();
    assert!(script.contains("PluginName=\"collect\"") && script.contains("manifest_sha256"));
    let protect = &steps[step_index(&doc, "protectInstance")];
    assert_eq!(protect["inputs"]["Api"], "ModifyInstanceAttribute");
    assert_eq!(protect["inputs"]["DisableApiTermination"]["Value"], true);
    let quarantine = steps[step_index(&doc, "quarantine")]["inputs"]["Script"]
        .as_str()
        .unwrap();
    assert!(quarantine.contains("modify_network_interface_attribute"));
}

// ---- EventBridge patterns ---------------------------------------------------------------

/// EventBridge matching for the pattern features used here: lists of literals, `prefix`,
/// `numeric`, nested objects; every field in the pattern must match.
fn matches(pattern: &Value, event: &Value) -> bool {
    pattern.as_object().unwrap().iter().all(|(k, p)| {
        let v = &event[k];
        match p {
            Value::Object(_) => v.is_object() && matches(p, v),
            Value::Array(alts) => alts.iter().any(|alt| match alt {
                Value::Object(m) if m.contains_key("prefix") => v
                    .as_str()
                    .is_some_and(|s| s.starts_with(m["prefix"].as_str().unwrap())),
                Value::Object(m) if m.contains_key("numeric") => {
                    let conds = m["numeric"].as_array().unwrap();
                    let Some(x) = v.as_f64() else { return false };
                    conds.chunks(2).all(|c| {
                        let n = c[1].as_f64().unwrap();
                        match c[0].as_str().unwrap() {
                            ">=" => x >= n,
                            ">" => x > n,
                            "<=" => x <= n,
                            "<" => x < n,
                            "=" => x == n,
                            op => panic!("numeric op {op}"),
                        }
                    })
                }
                literal => v == literal,
            }),
            _ => panic!("pattern field {k} must be a list or object"),
        }
    })
}

fn guardduty_event(resource_type: &str, severity: f64) -> Value {
    json!({
        "version": "0", "id": "c8c4daa7-a20c-2f03-0070-b7393dd542ad",
        "detail-type": "GuardDuty Finding", "source": "aws.guardduty",
        "account": "123456789012", "region": "us-east-1",
        "detail": {
            "schemaVersion": "2.0", "id": "16afba5c5c43e07c9e3e5e2e544e95df",
            "type": "Backdoor:EC2/C&CActivity.B!DNS", "severity": severity,
            "resource": {
                "resourceType": resource_type,
                "instanceDetails": { "instanceId": "i-99999999999999999" }
            }
        }
    })
}

/// Resolves `<path>` placeholders and `${Param}` substitutions of an InputTemplate and parses it.
fn render_input(target: &Value, event: &Value, stack_params: &BTreeMap<&str, &str>) -> Value {
    let t = &target["InputTransformer"];
    let mut text = t["InputTemplate"]["!Sub"].as_str().unwrap().to_owned();
    for (name, path) in t["InputPathsMap"].as_object().unwrap() {
        let mut v = event;
        for part in path.as_str().unwrap().trim_start_matches("$.").split('.') {
            v = &v[part];
        }
        text = text.replace(
            &format!("<{name}>"),
            v.as_str().unwrap_or_else(|| panic!("{path} not in event")),
        );
    }
    for (k, v) in stack_params {
        text = text.replace(&format!("${{{k}}}"), v);
    }
    assert!(!text.contains("${"), "unresolved substitution in {text}");
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("InputTemplate is not JSON ({e}): {text}"))
}

/// The rendered input must be exactly what the runbook accepts.
fn check_runbook_input(input: &Value, params: &serde_json::Map<String, Value>) {
    let given = input.as_object().unwrap();
    for (k, v) in given {
        let def = params
            .get(k)
            .unwrap_or_else(|| panic!("input {k} is not a runbook parameter"));
        let v = v[0].as_str().unwrap();
        if let Some(p) = def["allowedPattern"].as_str() {
            assert!(full_match(p, v), "input {k}={v:?} fails {p}");
        }
    }
    for (k, def) in params {
        assert!(
            given.contains_key(k) || def.get("default").is_some(),
            "input lacks required parameter {k}"
        );
    }
}

fn sample_stack_params() -> BTreeMap<&'static str, &'static str> {
    BTreeMap::from([
        ("Bucket", "vestige-evidence-123456789012-us-east-1"),
        ("Prefix", "evidence"),
        ("CollectDocumentName", "vestige-collect"),
        ("QuarantineSecurityGroupId", "sg-0123456789abcdef0"),
        ("DetachFromAutoScalingGroup", "false"),
        (
            "AutomationRole.Arn",
            "arn:aws:iam::123456789012:role/vestige-ir-AutomationRole-ABC",
        ),
        ("TerminationProfile", "triage"),
        ("TerminationExecutionTimeout", "480"),
        ("SpotExecutionTimeout", "75"),
    ])
}

/// The GuardDuty rule matches high-severity EC2 findings only (not low severity, S3 or access keys)
/// and starts the runbook with input its parameters accept.
#[test]
fn guardduty_rule_matches_ec2_findings_and_starts_the_runbook_with_valid_input() {
    let file: Value = serde_json::from_str(
        &std::fs::read_to_string(
            repo_root().join("packaging/automation/guardduty-ec2-finding.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let template = yaml_file(TEMPLATES[1]);
    let rule = &template["Resources"]["GuardDutyFindingRule"]["Properties"];
    assert_eq!(
        rule["EventPattern"], file,
        "the template's pattern and guardduty-ec2-finding.json differ"
    );
    assert!(matches(&file, &guardduty_event("Instance", 8.0)));
    assert!(matches(&file, &guardduty_event("Instance", 7.0)));
    assert!(
        !matches(&file, &guardduty_event("Instance", 5.0)),
        "low severity must not isolate"
    );
    assert!(!matches(&file, &guardduty_event("S3Bucket", 8.0)));
    assert!(!matches(&file, &guardduty_event("AccessKey", 8.0)));

    let target = &rule["Targets"][0];
    assert!(target["Arn"]["!Sub"]
        .as_str()
        .unwrap()
        .contains(":automation-definition/${RunbookName}:$DEFAULT"));
    let runbook = yaml_file("packaging/automation/vestige-incident-response.yaml");
    let params = runbook["parameters"].as_object().unwrap().clone();
    let input = render_input(
        target,
        &guardduty_event("Instance", 8.0),
        &sample_stack_params(),
    );
    check_runbook_input(&input, &params);
    assert_eq!(input["InstanceId"][0], "i-99999999999999999");
    assert_eq!(input["CaseId"][0], "gd-16afba5c5c43e07c9e3e5e2e544e95df");
}

/// The pre-termination stack hooks Auto Scaling terminations and Spot warnings of its groups into
/// the capture runbook, which always reaches the lifecycle decision and fits Spot's two-minute
/// notice.
#[test]
fn pretermination_hooks_termination_and_spot_warnings_into_the_capture_runbook() {
    let t = yaml_file(TEMPLATES[2]);
    let r = &t["Resources"];
    let hook = &r["TerminatingHook"]["Properties"];
    assert_eq!(
        hook["LifecycleTransition"],
        "autoscaling:EC2_INSTANCE_TERMINATING"
    );
    assert_eq!(
        hook["DefaultResult"], "CONTINUE",
        "a failed capture must not keep instances forever"
    );
    let runbook = &r["CaptureRunbook"]["Properties"]["Content"];
    assert_eq!(
        r["CaptureRunbook"]["Properties"]["DocumentType"],
        "Automation"
    );
    let params = check_runbook(runbook, "pre-termination capture");
    check_collect_call(runbook);
    let steps = runbook["mainSteps"].as_array().unwrap();
    let complete = &steps[step_index(runbook, "completeLifecycleAction")];
    assert_eq!(complete["inputs"]["Api"], "CompleteLifecycleAction");
    assert_eq!(complete["inputs"]["LifecycleActionResult"], "CONTINUE");
    assert!(step_index(runbook, "recordSummary") < step_index(runbook, "completeLifecycleAction"));
    // Whatever happens to the collection, the runbook reaches the lifecycle decision.
    for s in ["collect", "recordSummary"] {
        assert!(
            steps[step_index(runbook, s)]["onFailure"]
                .as_str()
                .is_some_and(|f| f.starts_with("step:")),
            "{s}"
        );
    }

    let sp = sample_stack_params();
    let term = &r["TerminatingRule"]["Properties"];
    let mut pattern = term["EventPattern"].clone();
    pattern["detail"]["AutoScalingGroupName"] = json!(["web-asg"]);
    let lifecycle_event = json!({
        "source": "aws.autoscaling", "detail-type": "EC2 Instance-terminate Lifecycle Action",
        "detail": {
            "LifecycleActionToken": "87654321-4321-4321-4321-210987654321",
            "AutoScalingGroupName": "web-asg", "LifecycleHookName": "vestige-pretermination-capture",
            "EC2InstanceId": "i-1234567890abcdef0", "LifecycleTransition": "autoscaling:EC2_INSTANCE_TERMINATING"
        }
    });
    assert!(matches(&pattern, &lifecycle_event));
    let mut other_group = lifecycle_event.clone();
    other_group["detail"]["AutoScalingGroupName"] = json!("db-asg");
    assert!(!matches(&pattern, &other_group));
    let input = render_input(&term["Targets"][0], &lifecycle_event, &sp);
    check_runbook_input(&input, &params);
    assert_eq!(
        input["LifecycleActionToken"][0],
        "87654321-4321-4321-4321-210987654321"
    );

    let spot = &r["SpotInterruptionRule"]["Properties"];
    let spot_event = json!({
        "source": "aws.ec2", "detail-type": "EC2 Spot Instance Interruption Warning",
        "detail": { "instance-id": "i-1234567890abcdef0", "instance-action": "terminate" }
    });
    assert!(matches(&spot["EventPattern"], &spot_event));
    assert!(!matches(&spot["EventPattern"], &lifecycle_event));
    let input = render_input(&spot["Targets"][0], &spot_event, &sp);
    check_runbook_input(&input, &params);
    assert_eq!(
        input["Profile"][0], "minimal",
        "the fast profile inside the two-minute notice"
    );
    let timeout: u64 = input["ExecutionTimeout"][0]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(timeout <= 100, "Spot capture must end inside the notice");
    assert!(input.get("LifecycleActionToken").is_none());
    let spot_max = t["Parameters"]["SpotExecutionTimeout"]["MaxValue"]
        .as_u64()
        .unwrap();
    assert!(spot_max <= 100);
}

/// IAM's ARN wildcard match: `*` is any run of characters (including `/`), `?` one character.
fn iam_glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}
