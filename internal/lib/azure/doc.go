// Package azure is the Azure credential every Daedalus step uses, and the doctor that
// explains a rejected GitHub OIDC token.
//
// In GitHub Actions (GITHUB_ACTIONS=true) NewCredential returns azidentity's
// ClientAssertionCredential whose assertion callback requests a fresh GitHub OIDC token
// (audience api://AzureADTokenExchange) every time Entra ID is asked for a token, so a long
// step never fails on the GitHub token's 5-minute or the Entra token's 1-hour lifetime. No
// client secret exists anywhere. Outside Actions it returns azidentity's default chain
// (environment, workload identity, managed identity, Azure CLI, …), so the same binaries
// work under make after `az login`.
//
// Typical use in a step:
//
//	in := a.Inputs()
//	az := azure.ReadConfig(a, in) // inputs tenant-id, client-id, subscription-id, cloud
//	if err := errors.Join(in.Err(), az.Validate(a.InActions())); err != nil {
//		return err
//	}
//	cred, err := azure.NewCredential(a, az, nil)
//	…
//	client, err := armresources.NewResourceGroupsClient(az.SubscriptionID, cred,
//		&arm.ClientOptions{ClientOptions: azcore.ClientOptions{Cloud: az.CloudConfig()}})
//
// Every access token the credential returns, and every GitHub OIDC token it presents, is
// masked (::add-mask::) before anything could print it.
//
// When Entra rejects the assertion because no federated credential matches it
// (AADSTS70021, AADSTS700211, AADSTS700212, AADSTS700213), GetToken returns a
// *SubjectError: it decodes the claims of the GitHub token that was presented (never the
// token itself) and says which subject this run presents (repo:O/R:ref:refs/heads/main,
// repo:O/R:pull_request, repo:O/R:environment:X, …) and exactly what to add.
//
// Package azuretest holds loopback stand-ins for the Entra token endpoint and the GitHub
// OIDC token endpoint, for tests of any step that authenticates.
package azure
