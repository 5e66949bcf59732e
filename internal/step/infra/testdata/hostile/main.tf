# A stack whose output tries to issue workflow commands: terraform prints the output's
# lines into the step's log, where the runner would act on them unless the step fences
# terraform's output with ::stop-commands::.

variable "subscription_id" {
  type = string
}

variable "ttl_hours" {
  type = number
}

variable "expires_at" {
  type = string
}

resource "terraform_data" "motd" {
  input = "::warning title=forged::a stack output issued a workflow command\n::add-mask::forged-mask\n"
}

output "motd" {
  value = terraform_data.motd.output
}
