# Settings of the test environment, read identically by CI (the root action reads
# deploy/environments/<environment>.tfvars when the repository has it) and by
# `make deploy-aks-test`. env_name comes from the environment itself; variables are
# those of deploy/terraform/variables.tf.
location        = "eastus2"
node_count      = 2
node_vm_size    = "Standard_D2s_v5"
os_disk_size_gb = 75
