{{/* Name of the release's objects: <release>, or <release>-daedalus when the release name lacks it. */}}
{{- define "daedalus.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "daedalus.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: daedalus
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels; takes (dict "root" $ "component" "nats"). */}}
{{- define "daedalus.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "daedalus.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "daedalus.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "daedalus.nats.name" -}}{{ include "daedalus.fullname" . }}-nats{{- end -}}
{{- define "daedalus.nats.headless" -}}{{ include "daedalus.fullname" . }}-nats-headless{{- end -}}
{{- define "daedalus.nats.authSecret" -}}
{{- default (printf "%s-nats-auth" (include "daedalus.fullname" .)) .Values.nats.auth.existingSecret -}}
{{- end -}}

{{- define "daedalus.nats.routesSecret" -}}
{{- default (printf "%s-nats-routes" (include "daedalus.fullname" .)) .Values.nats.cluster.auth.existingSecret -}}
{{- end -}}

{{/* The client URL every proxy and the bootstrap hook use. */}}
{{- define "daedalus.nats.url" -}}
{{- if .Values.nats.enabled -}}
{{- printf "%s://%s.%s.svc:4222" (ternary "tls" "nats" .Values.nats.tls.enabled) (include "daedalus.nats.name" .) .Release.Namespace -}}
{{- else -}}
{{- required "nats.externalUrl is required when nats.enabled=false" .Values.nats.externalUrl -}}
{{- end -}}
{{- end -}}

{{/* Stream replicas: nats.streamReplicas, else min(nats.replicas, 3). */}}
{{- define "daedalus.streamReplicas" -}}
{{- if .Values.nats.streamReplicas -}}
{{- .Values.nats.streamReplicas -}}
{{- else -}}
{{- min (int .Values.nats.replicas) 3 -}}
{{- end -}}
{{- end -}}

{{/* The monitoring endpoint KEDA polls. In a cluster it is the headless service, so the
scaler can reach the consumer leader as <server name>.<endpoint>. For an external
server: nats.externalMonitoringEndpoint, else the first externalUrl host on 8222. */}}
{{- define "daedalus.nats.monitoringEndpoint" -}}
{{- if not .Values.nats.enabled -}}
{{- if .Values.nats.externalMonitoringEndpoint -}}
{{- .Values.nats.externalMonitoringEndpoint -}}
{{- else -}}
{{- $first := include "daedalus.nats.url" . | splitList "," | first | trim -}}
{{- $host := (urlParse $first).hostname -}}
{{- if not $host -}}
{{- fail (printf "nats.externalUrl %q names no host: set nats.externalMonitoringEndpoint to the server's monitoring host:port" $first) -}}
{{- end -}}
{{- printf "%s:8222" $host -}}
{{- end -}}
{{- else if gt (int .Values.nats.replicas) 1 -}}
{{- printf "%s.%s.svc.cluster.local:8222" (include "daedalus.nats.headless" .) .Release.Namespace -}}
{{- else -}}
{{- printf "%s.%s.svc.cluster.local:8222" (include "daedalus.nats.name" .) .Release.Namespace -}}
{{- end -}}
{{- end -}}

{{- /*
A third-party image (repository, tag, digest): repository:tag@digest, or repository@digest
without a tag; repository:tag, unpinned, only when the digest is empty. With a digest the
runtime pulls the digest, and the tag is there for people to read.
*/}}
{{- define "daedalus.pinnedImage" -}}
{{- $ref := .repository -}}
{{- with toString (.tag | default "") }}{{ $ref = printf "%s:%s" $ref . }}{{ end -}}
{{- with .digest }}{{ $ref = printf "%s@%s" $ref . }}{{ end -}}
{{- $ref -}}
{{- end -}}

{{- define "daedalus.image" -}}
{{- $repo := .image.repository -}}
{{- if hasPrefix "REPLACE_VIA_HELM_SET" $repo -}}
{{- fail (printf "%s.repository is the placeholder %q: set it with --set %s.repository=<registry>/<name>" .path $repo .path) -}}
{{- end -}}
{{- $tag := default .root.Chart.AppVersion (toString (.image.tag | default "")) -}}
{{- if hasPrefix "REPLACE_VIA_HELM_SET" $tag -}}
{{- fail (printf "%s.tag is the placeholder %q: set it with --set %s.tag=<tag>" .path $tag .path) -}}
{{- end -}}
{{- if hasPrefix "sha256:" $tag -}}
{{- printf "%s@%s" $repo $tag -}}
{{- else -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end -}}
{{- end -}}

{{/* Pod-level security context shared by every pod. */}}
{{- define "daedalus.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 1000
runAsGroup: 1000
fsGroup: 1000
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Container security context of the proxy, the bootstrap hook and NATS. */}}
{{- define "daedalus.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 1000
runAsGroup: 1000
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* NATS connection environment; takes the root context. */}}
{{- define "daedalus.nats.env" -}}
- name: NATS_URL
  value: {{ include "daedalus.nats.url" . | quote }}
{{- if or (and .Values.nats.enabled .Values.nats.auth.enabled) (and (not .Values.nats.enabled) .Values.nats.auth.existingSecret) }}
- name: NATS_USER
  valueFrom:
    secretKeyRef:
      name: {{ include "daedalus.nats.authSecret" . }}
      key: user
- name: NATS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "daedalus.nats.authSecret" . }}
      key: password
{{- end }}
{{- if .Values.nats.tls.enabled }}
- name: NATS_CA_FILE
  value: /etc/nats-tls/ca.crt
{{- end }}
{{- end -}}

{{- define "daedalus.nats.tlsVolumeMount" -}}
{{- if .Values.nats.tls.enabled -}}
- name: nats-tls
  mountPath: /etc/nats-tls
  readOnly: true
{{- end }}
{{- end -}}

{{- define "daedalus.nats.tlsVolume" -}}
{{- if .Values.nats.tls.enabled -}}
- name: nats-tls
  secret:
    secretName: {{ required "nats.tls.secretName is required when nats.tls.enabled=true" .Values.nats.tls.secretName }}
    items:
      - key: ca.crt
        path: ca.crt
{{- end }}
{{- end -}}

{{/* A worker merged over its preset, merged over workerDefaults; takes (dict "root" $
"worker" $w). Returns YAML. */}}
{{- define "daedalus.worker" -}}
{{- $w := deepCopy .root.Values.workerDefaults -}}
{{- with .worker.preset -}}
{{- $preset := index $.root.Values.agentPresets . -}}
{{- if not $preset -}}
{{- fail (printf "worker %q: preset %q is not one of agentPresets (%s)" $.worker.name . (keys $.root.Values.agentPresets | sortAlpha | join ", ")) -}}
{{- end -}}
{{- $w = mergeOverwrite $w (deepCopy $preset) -}}
{{- end -}}
{{- $w = mergeOverwrite $w (deepCopy .worker) -}}
{{- if and (eq $w.transport "stdio") (not $w.command) -}}
{{- fail (printf "worker %q: transport stdio needs the agent command in command" $w.name) -}}
{{- end -}}
{{- if and $w.apiKeySecret (not $w.apiKeyEnv) -}}
{{- fail (printf "worker %q: apiKeySecret needs apiKeyEnv, the variable the agent reads its key from" $w.name) -}}
{{- end -}}
{{- toYaml $w -}}
{{- end -}}

{{/* The pod spec of a worker: the proxy container, and the agent as a native sidecar
(an init container with restartPolicy Always) so that the Job completes when the proxy
exits, whether or not the agent does. Takes (dict "root" $ "w" $w "index" $i "mode" "job"). */}}
{{- define "daedalus.workerPod" -}}
{{- $root := .root -}}
{{- $w := .w -}}
{{- $grace := int $w.terminationGracePeriodSeconds -}}
{{- if lt $grace 10 -}}
{{- fail (printf "workers[%d].terminationGracePeriodSeconds is %d: it must be at least 10 (the proxy drains for it minus 5 seconds)" .index $grace) -}}
{{- end -}}
metadata:
  labels:
    {{- include "daedalus.selectorLabels" (dict "root" $root "component" "worker") | nindent 4 }}
    daedalus.dev/worker: {{ $w.name }}
    {{- if $root.Values.workloadIdentity.clientId }}
    {{- /* AKS's webhook injects the Entra token only into pods with this label. */}}
    azure.workload.identity/use: "true"
    {{- end }}
    {{- with $w.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with $w.podAnnotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  serviceAccountName: {{ include "daedalus.serviceAccountName" $root }}
  automountServiceAccountToken: {{ $root.Values.serviceAccount.automountToken }}
  restartPolicy: {{ ternary "Never" "Always" (eq .mode "job") }}
  terminationGracePeriodSeconds: {{ $grace }}
  {{- with $root.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- include "daedalus.podSecurityContext" $root | nindent 4 }}
  {{- with $w.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $w.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $w.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  initContainers:
    {{- if eq $w.transport "stdio" }}
    - name: bridge-install
      image: {{ include "daedalus.image" (dict "root" $root "image" $root.Values.proxy.image "path" "proxy.image") | quote }}
      imagePullPolicy: {{ $root.Values.proxy.image.pullPolicy }}
      args: [install, /daedalus/bin]
      securityContext:
        {{- include "daedalus.containerSecurityContext" $root | nindent 8 }}
      volumeMounts:
        - name: daedalus-bin
          mountPath: /daedalus/bin
    {{- end }}
    - name: agent
      image: {{ include "daedalus.image" (dict "root" $root "image" $w.image "path" (printf "workers[%d].image" .index)) | quote }}
      imagePullPolicy: {{ $w.image.pullPolicy | default "IfNotPresent" }}
      restartPolicy: Always
      {{- if eq $w.transport "stdio" }}
      command:
        {{- toYaml (concat (list "/daedalus/bin/proxy" "bridge" "--listen" (printf "127.0.0.1:%v" $w.port) "--") $w.command $w.args) | nindent 8 }}
      {{- else }}
      {{- with $w.command }}
      command:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $w.args }}
      args:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- end }}
      ports:
        - name: acp
          containerPort: {{ $w.port }}
          protocol: TCP
      env:
        - name: DAEDALUS_WORKER
          value: {{ $w.name | quote }}
        - name: DAEDALUS_WORKSPACE
          value: /workspace
        # Where the proxy beside it dials: an agent that reads this listens on loopback only.
        - name: DAEDALUS_AGENT_LISTEN
          value: {{ printf "127.0.0.1:%v" $w.port | quote }}
        {{- with $w.apiKeySecret }}
        - name: {{ $w.apiKeyEnv }}
          valueFrom:
            secretKeyRef:
              name: {{ .name | quote }}
              key: {{ .key | quote }}
        {{- end }}
        {{- with $w.env }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with $w.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml $w.securityContext | nindent 8 }}
      volumeMounts:
        - name: workspace
          mountPath: /workspace
        {{- if eq $w.transport "stdio" }}
        - name: daedalus-bin
          mountPath: /daedalus/bin
          readOnly: true
        {{- end }}
  containers:
    - name: proxy
      image: {{ include "daedalus.image" (dict "root" $root "image" $root.Values.proxy.image "path" "proxy.image") | quote }}
      imagePullPolicy: {{ $root.Values.proxy.image.pullPolicy }}
      args: [run]
      env:
        {{- include "daedalus.nats.env" $root | nindent 8 }}
        - name: DAEDALUS_WORKER
          value: {{ $w.name | quote }}
        - name: DAEDALUS_MODE
          value: {{ .mode | quote }}
        - name: DAEDALUS_AGENT_ADDR
          value: {{ printf "127.0.0.1:%v" $w.port | quote }}
        - name: DAEDALUS_WORKSPACE
          value: /workspace
        - name: DAEDALUS_STARTUP_TIMEOUT
          value: {{ $root.Values.proxy.startupTimeout | quote }}
        - name: DAEDALUS_TASK_TIMEOUT
          value: {{ $root.Values.proxy.taskTimeout | quote }}
        {{- if eq .mode "job" }}
        - name: DAEDALUS_IDLE_TIMEOUT
          value: {{ $root.Values.proxy.idleTimeout | quote }}
        {{- else }}
        - name: DAEDALUS_LISTEN
          value: {{ printf ":%v" $root.Values.proxy.metricsPort | quote }}
        {{- end }}
        - name: DAEDALUS_GRACE_PERIOD
          value: {{ printf "%ds" $grace | quote }}
        - name: DAEDALUS_DRAIN_TIMEOUT
          value: {{ printf "%ds" (sub $grace 5) | quote }}
        - name: DAEDALUS_PERMISSION_POLICY
          value: {{ $root.Values.proxy.permissionPolicy | quote }}
        {{- with $root.Values.proxy.permissionAllowlist }}
        - name: DAEDALUS_PERMISSION_ALLOWLIST
          value: {{ join "," . | quote }}
        {{- end }}
        {{- with $w.authMethod }}
        - name: DAEDALUS_AUTH_METHOD
          value: {{ . | quote }}
        {{- end }}
        {{- with $w.sessionMode }}
        - name: DAEDALUS_SESSION_MODE
          value: {{ . | quote }}
        {{- end }}
        {{- with $w.model }}
        - name: DAEDALUS_MODEL
          value: {{ . | quote }}
        {{- end }}
        {{- with $w.mcpServers }}
        - name: DAEDALUS_MCP_SERVERS
          value: {{ toJson . | quote }}
        {{- end }}
        - name: DAEDALUS_LOG_LEVEL
          value: {{ $root.Values.proxy.logLevel | quote }}
      {{- if ne .mode "job" }}
      ports:
        - name: metrics
          containerPort: {{ $root.Values.proxy.metricsPort }}
          protocol: TCP
      livenessProbe:
        httpGet:
          path: /healthz
          port: metrics
        periodSeconds: 10
      readinessProbe:
        httpGet:
          path: /healthz
          port: metrics
        periodSeconds: 5
      {{- end }}
      {{- with $w.proxy }}
      {{- with .resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- end }}
      securityContext:
        {{- include "daedalus.containerSecurityContext" $root | nindent 8 }}
      volumeMounts:
        - name: workspace
          mountPath: /workspace
        {{- if $root.Values.nats.tls.enabled }}
        {{- include "daedalus.nats.tlsVolumeMount" $root | nindent 8 }}
        {{- end }}
  volumes:
    - name: workspace
      emptyDir:
        sizeLimit: {{ $w.workspaceSizeLimit }}
    {{- if eq $w.transport "stdio" }}
    - name: daedalus-bin
      emptyDir:
        sizeLimit: 64Mi
    {{- end }}
    {{- if $root.Values.nats.tls.enabled }}
    {{- include "daedalus.nats.tlsVolume" $root | nindent 4 }}
    {{- end }}
{{- end -}}

{{/* "true" when the IPv4 CIDR . (a.b.c.d/n) covers the instance metadata service
169.254.169.254 with room to spare, so an allow-list entry gets it as an `except`; fails
when the entry is that address alone. IPv6 entries never cover it. */}}
{{- define "daedalus.coversMetadata" -}}
{{- if not (contains ":" .) -}}
{{- $parts := splitList "/" . -}}
{{- $octets := splitList "." (first $parts) -}}
{{- $n := atoi (last $parts) -}}
{{- $ip := 0 -}}
{{- range $octets }}{{ $ip = add (mul $ip 256) (atoi .) }}{{ end -}}
{{- $block := 1 -}}
{{- range until (sub 32 $n | int) }}{{ $block = mul $block 2 }}{{ end -}}
{{- if eq (div $ip $block) (div 2852039166 $block) -}}
{{- if eq $n 32 -}}
{{- fail (printf "workerNetworkPolicy.egress: %s is the instance metadata service, which worker pods may never reach" .) -}}
{{- end -}}
true
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "daedalus.scaler.name" -}}{{ include "daedalus.fullname" . }}-scaler{{- end -}}
