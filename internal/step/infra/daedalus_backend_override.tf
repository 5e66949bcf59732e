# Written by the Daedalus infra step for a run without backend-config: the state
# stays in a local file of the environment. A run with backend-config removes it.
terraform {
  backend "local" {
    path = "terraform.tfstate"
  }
}
