// Package aks is how a step reaches its cluster: a kubeconfig file, or an AKS cluster
// whose user credential it reads from Azure Resource Manager through the Azure SDK's
// clients with the step's Azure credential (GitHub OIDC in Actions), with no az CLI and
// no kubelogin. For a cluster with Entra ID authentication every request carries a fresh
// token for the AKS server application, so a long step never outlives its credential.
// The deploy and smoke steps share it, so the pipeline hands smoke the same cluster
// names it hands deploy and no credential is ever written to disk.
package aks
