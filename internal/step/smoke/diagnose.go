package smoke

import (
	"bufio"
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
)

// Titles of the diagnoses: the entries of docs/runbook.md's Troubleshooting.
const (
	DiagImagePull     = "AcrPull missing (image pull failures)"
	DiagCrashLoop     = "Pod crash loops (missing GITHUB_TOKEN or wrong secret key)"
	DiagScaledJob     = "KEDA not triggering: ScaledJob not Ready or KEDA operator errors"
	DiagNoJob         = "KEDA not triggering: no Job appeared"
	DiagStreamMissing = "NATS JetStream stream not created"
	DiagStreamName    = "KEDA not triggering: wrong stream name"
	DiagConsumer      = "KEDA not triggering: NATS consumer missing"
)

// diagnose reads what the cluster and NATS show after ce and returns every known
// failure it points to, most specific first.
func (r *runner) diagnose(ctx context.Context, ce *CheckError) []Diagnosis {
	var out []Diagnosis
	add := func(d *Diagnosis) {
		if d != nil {
			out = append(out, *d)
		}
	}
	pods, _ := r.podsOf(ctx)
	add(r.imagePull(pods))
	add(r.crashLoop(ctx, pods, ce))
	add(r.natsProblems(ctx))
	sjDiag := r.scaledJobProblems(ctx)
	add(sjDiag)
	if ce.Check == CheckColdStart && len(out) == 0 {
		add(r.noJob(ctx))
	}
	return out
}

func (r *runner) imagePull(pods []corev1.Pod) *Diagnosis {
	var ev []string
	for _, p := range pods {
		for _, cs := range allStatuses(p) {
			if w := cs.State.Waiting; w != nil && (w.Reason == "ImagePullBackOff" || w.Reason == "ErrImagePull") {
				ev = append(ev, fmt.Sprintf("pod %s container %s: %s pulling %s: %s", p.Name, cs.Name, w.Reason, cs.Image, w.Message))
			}
		}
	}
	if len(ev) == 0 {
		return nil
	}
	return &Diagnosis{
		Title:    DiagImagePull,
		Evidence: ev,
		Fix: "the AKS kubelet identity lacks AcrPull on the registry. Check with " +
			"`az role assignment list --assignee \"$(az aks show -g <RG> -n <AKS_NAME> --query identityProfile.kubeletidentity.objectId -o tsv)\" --scope \"$(az acr show -n <ACR_NAME> --query id -o tsv)\"`; " +
			"re-run the infra step (Terraform reconciles the role assignment), or as an emergency override `az aks update -g <RG> -n <AKS_NAME> --attach-acr <ACR_NAME>`. " +
			"Also check that the image reference the deploy step set was pushed by the publish step.",
	}
}

func (r *runner) crashLoop(ctx context.Context, pods []corev1.Pod, ce *CheckError) *Diagnosis {
	var ev []string
	for _, p := range pods {
		for _, cs := range allStatuses(p) {
			switch {
			case cs.State.Waiting != nil && (cs.State.Waiting.Reason == "CrashLoopBackOff" || cs.State.Waiting.Reason == "CreateContainerConfigError"):
				ev = append(ev, fmt.Sprintf("pod %s container %s: %s: %s", p.Name, cs.Name, cs.State.Waiting.Reason, cs.State.Waiting.Message))
			case cs.State.Terminated != nil && cs.State.Terminated.ExitCode != 0:
				ev = append(ev, fmt.Sprintf("pod %s container %s exited %d (%s)", p.Name, cs.Name, cs.State.Terminated.ExitCode, cs.State.Terminated.Reason))
			}
		}
	}
	secretEv := r.secretRefs(ctx, pods)
	tokenMissing := ce.Check == CheckPrerequisites && strings.Contains(ce.Problem, "token secret")
	if len(ev) == 0 && !tokenMissing {
		return nil
	}
	if len(ev) == 0 && len(secretEv) == 0 {
		secretEv = []string{ce.Problem}
	}
	return &Diagnosis{
		Title:    DiagCrashLoop,
		Evidence: append(ev, secretEv...),
		Fix: fmt.Sprintf("the agent reads GITHUB_TOKEN from Secret %s key %s. Check it with "+
			"`kubectl get secret %s -n %s -o jsonpath='{.data.%s}' | base64 -d | head -c 10` (should print ghp_… or ghu_…); "+
			"re-export GITHUB_TOKEN and re-run the deploy step (it upserts the secret); KEDA creates new Jobs on the next trigger.",
			orDefault(r.cfg.TokenSecret, DefaultTokenSecret), TokenSecretKey, orDefault(r.cfg.TokenSecret, DefaultTokenSecret), r.cfg.Namespace, TokenSecretKey),
	}
}

// secretRefs checks every secretKeyRef of the pods' containers and says which are broken.
func (r *runner) secretRefs(ctx context.Context, pods []corev1.Pod) []string {
	seen := map[string]bool{}
	var ev []string
	for _, p := range pods {
		for _, c := range append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...) {
			for _, e := range c.Env {
				if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
					continue
				}
				ref := e.ValueFrom.SecretKeyRef
				key := ref.Name + "/" + ref.Key
				if seen[key] {
					continue
				}
				seen[key] = true
				s, err := r.deps.Kube.CoreV1().Secrets(p.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
				switch {
				case isNotFound(err):
					ev = append(ev, fmt.Sprintf("container %s env %s: Secret %s does not exist", c.Name, e.Name, ref.Name))
				case err != nil:
				case len(s.Data[ref.Key]) == 0:
					keys := make([]string, 0, len(s.Data))
					for k := range s.Data {
						keys = append(keys, k)
					}
					sort.Strings(keys)
					ev = append(ev, fmt.Sprintf("container %s env %s: Secret %s has no key %s (keys: %s)", c.Name, e.Name, ref.Name, ref.Key, strings.Join(keys, ", ")))
				}
			}
		}
	}
	return ev
}

func (r *runner) natsProblems(ctx context.Context) *Diagnosis {
	if r.js == nil {
		return nil
	}
	stream := r.cfg.TasksStream
	if r.trigger.stream != "" && r.trigger.stream != stream {
		if _, err := r.js.Stream(ctx, r.trigger.stream); isNotFound(err) {
			return &Diagnosis{
				Title:    DiagStreamName,
				Evidence: []string{fmt.Sprintf("ScaledJob %s reads lag from stream %q, which NATS does not have; the proxy uses %q", r.rep.ScaledJob, r.trigger.stream, stream)},
				Fix:      fmt.Sprintf("set keda.natsStream to %s (the stream the bootstrap hook creates) and re-run the deploy step; list the streams with `nats stream ls`", stream),
			}
		}
	}
	if _, err := r.js.Stream(ctx, stream); isNotFound(err) {
		return &Diagnosis{
			Title:    DiagStreamMissing,
			Evidence: []string{fmt.Sprintf("NATS has no stream %s", stream)},
			Fix: "re-run the deploy step: its bootstrap hook (`proxy bootstrap`) creates the streams and consumers. By hand: " +
				"`nats stream add AGENT_TASKS --subjects=\"agent.tasks.>\" --retention=limits --max-msgs=-1 --max-bytes=-1 --max-age=1h --storage=file --replicas=1 --discard=old`",
		}
	}
	consumer := r.cfg.Worker
	if _, err := r.js.Consumer(ctx, stream, consumer); isNotFound(err) {
		ev := []string{fmt.Sprintf("stream %s has no durable consumer %s", stream, consumer)}
		if r.trigger.consumer != "" {
			ev = append(ev, fmt.Sprintf("ScaledJob %s watches consumer %q: KEDA cannot read its lag", r.rep.ScaledJob, r.trigger.consumer))
		}
		return &Diagnosis{
			Title:    DiagConsumer,
			Evidence: ev,
			Fix: fmt.Sprintf("re-run the deploy step (its bootstrap hook creates one consumer per worker), or by hand: "+
				"`nats consumer add %s %s --filter=agent.tasks.%s --durable=%s --ack=explicit --deliver=all --max-deliver=3`", stream, consumer, consumer, consumer),
		}
	}
	if r.trigger.consumer != "" && r.trigger.consumer != consumer {
		return &Diagnosis{
			Title:    DiagConsumer,
			Evidence: []string{fmt.Sprintf("ScaledJob %s watches consumer %q but the proxy of worker %s pulls from %q", r.rep.ScaledJob, r.trigger.consumer, consumer, consumer)},
			Fix:      "the trigger must watch the consumer named after the worker; re-run the deploy step with the chart's ScaledJob",
		}
	}
	return nil
}

func (r *runner) scaledJobProblems(ctx context.Context) *Diagnosis {
	sj, err := r.scaledJob(ctx)
	if err != nil {
		return nil
	}
	var ev []string
	if s, msg := condition(sj, "Ready"); s != "" && s != "True" {
		ev = append(ev, fmt.Sprintf("ScaledJob %s condition Ready=%s: %s", sj.GetName(), orDefault(s, "unset"), msg))
	}
	ev = append(ev, r.warningEvents(ctx, sj.GetName())...)
	if len(ev) == 0 {
		return nil
	}
	ev = append(ev, r.operatorLog(ctx)...)
	return &Diagnosis{
		Title:    DiagScaledJob,
		Evidence: ev,
		Fix: fmt.Sprintf("check `kubectl describe scaledjob -n %s %s` and `kubectl logs -n %s deploy/keda-operator --tail=50` for errors reaching the NATS monitoring endpoint %s; "+
			"the trigger's stream and consumer must exist in NATS", r.cfg.Namespace, sj.GetName(), r.cfg.KEDANamespace, orDefault(r.trigger.endpoint, "(none set)")),
	}
}

func (r *runner) warningEvents(ctx context.Context, name string) []string {
	sel := fields.AndSelectors(fields.OneTermEqualSelector("involvedObject.name", name), fields.OneTermEqualSelector("type", corev1.EventTypeWarning))
	list, err := r.deps.Kube.CoreV1().Events(r.cfg.Namespace).List(ctx, metav1.ListOptions{FieldSelector: sel.String()})
	if err != nil {
		return nil
	}
	var ev []string
	for _, e := range list.Items {
		ev = append(ev, fmt.Sprintf("event %s (%d×): %s", e.Reason, max(e.Count, 1), e.Message))
	}
	if len(ev) > 5 {
		ev = ev[len(ev)-5:]
	}
	return ev
}

// operatorLog returns the KEDA operator's recent error lines.
func (r *runner) operatorLog(ctx context.Context) []string {
	if r.cfg.OperatorLogLines == 0 {
		return nil
	}
	read := r.deps.OperatorLog
	if read == nil {
		read = r.podLog
	}
	lines, err := read(ctx, 200)
	if err != nil {
		return []string{"KEDA operator log unavailable: " + err.Error()}
	}
	var out []string
	for _, l := range lines {
		low := strings.ToLower(l)
		if strings.Contains(low, "error") || strings.Contains(low, r.rep.ScaledJob) && r.rep.ScaledJob != "" {
			out = append(out, "keda-operator: "+strings.TrimSpace(l))
		}
	}
	if len(out) > r.cfg.OperatorLogLines {
		out = out[len(out)-r.cfg.OperatorLogLines:]
	}
	return out
}

func (r *runner) podLog(ctx context.Context, n int) ([]string, error) {
	pods, err := r.deps.Kube.CoreV1().Pods(r.cfg.KEDANamespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=keda-operator"})
	if err != nil {
		return nil, err
	}
	if len(pods.Items) == 0 {
		return nil, fmt.Errorf("no keda-operator pod in namespace %s", r.cfg.KEDANamespace)
	}
	tail := int64(n)
	raw, err := r.deps.Kube.CoreV1().Pods(r.cfg.KEDANamespace).GetLogs(pods.Items[0].Name, &corev1.PodLogOptions{TailLines: &tail}).DoRaw(ctx)
	if err != nil {
		return nil, err
	}
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines, nil
}

func (r *runner) noJob(ctx context.Context) *Diagnosis {
	ev := []string{fmt.Sprintf("no Job of ScaledJob %s appeared within %s of publishing (pollingInterval %s)", r.rep.ScaledJob, r.cfg.ColdStartTimeout, r.rep.PollingInterval)}
	if sj, err := r.scaledJob(ctx); err == nil {
		if s, _ := condition(sj, "Ready"); s == "" {
			ev = append(ev, fmt.Sprintf("ScaledJob %s has no status conditions: the KEDA operator has not reconciled it (is it running and watching namespace %s?)", sj.GetName(), r.cfg.Namespace))
		}
	}
	if r.js != nil {
		if c, err := r.js.Consumer(ctx, r.cfg.TasksStream, r.cfg.Worker); err == nil {
			if info, err := c.Info(ctx); err == nil {
				ev = append(ev, fmt.Sprintf("consumer %s lag (num_pending + num_ack_pending) = %d", r.cfg.Worker, info.NumPending+uint64(info.NumAckPending)))
			}
		}
	}
	ev = append(ev, r.operatorLog(ctx)...)
	return &Diagnosis{
		Title:    DiagNoJob,
		Evidence: ev,
		Fix: fmt.Sprintf("check 1: `kubectl logs -n %s deploy/keda-operator --tail=50` for errors reaching the NATS monitoring endpoint %s; "+
			"check 2: `kubectl describe scaledjob -n %s`; check 3: the durable consumer %s exists; check 4: keda.natsStream matches the stream (%s)",
			r.cfg.KEDANamespace, orDefault(r.trigger.endpoint, "(none set)"), r.cfg.Namespace, r.cfg.Worker, r.cfg.TasksStream),
	}
}

func allStatuses(p corev1.Pod) []corev1.ContainerStatus {
	return append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
