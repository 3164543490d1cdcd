{{/* Names, labels and the pieces the gateway Deployment and the Jobs share. */}}

{{- define "vecshift.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* <release>-<chart>, or the release alone when it already holds the chart name. */}}
{{- define "vecshift.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "vecshift.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vecshift.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "vecshift.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "vecshift.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "vecshift.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "vecshift.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "vecshift.secretName" -}}
{{- default (include "vecshift.fullname" .) .Values.secret.existingSecret -}}
{{- end -}}

{{- define "vecshift.claimName" -}}
{{- default (printf "%s-data" (include "vecshift.fullname" .)) .Values.persistence.existingClaim -}}
{{- end -}}

{{- define "vecshift.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The vecshift config file; its hash rolls the pods when it changes. */}}
{{- define "vecshift.configYaml" -}}
{{- toYaml .Values.config -}}
{{- end -}}

{{/* "true" when every replica can share the migration's state (nothing in a pod's files). */}}
{{- define "vecshift.sharedState" -}}
{{- if and (eq .Values.config.control.backend "postgres") (ne .Values.config.writelog.backend "file") -}}true{{- end -}}
{{- end -}}

{{/* "true" when the gateway mounts the data claim: one replica with persistence. Several
     replicas cannot share one claim (a claim is read-write-once), so they get an emptyDir for
     the little they keep locally; the logs they share are on Kafka or S3. */}}
{{- define "vecshift.gatewayMountsClaim" -}}
{{- if and .Values.persistence.enabled (eq (int .Values.replicaCount) 1) -}}true{{- end -}}
{{- end -}}

{{/* Refusals: configurations that would render but lose writes or never become ready. */}}
{{- define "vecshift.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not (include "vecshift.sharedState" .)) -}}
{{- fail "replicaCount > 1 needs state every replica shares: config.control.backend: postgres (with config.control.postgres) and config.writelog.backend: kafka or s3. A file control store or write log belongs to one pod." -}}
{{- end -}}
{{- if not .Values.config.admin.enabled -}}
{{- fail "config.admin.enabled must stay true: the probes and the ServiceMonitor use the admin port" -}}
{{- end -}}
{{- if and .Values.persistence.enabled (eq .Values.persistence.accessMode "ReadWriteOnce") (hasKey .Values.affinity "podAffinity") -}}
{{- fail "affinity.podAffinity cannot be combined with a ReadWriteOnce claim: the chart sets podAffinity so that the pods sharing the claim share a node" -}}
{{- end -}}
{{- end -}}

{{/* Secrets as environment variables, named as vecshift reads them (src/config/schema.ts
     SECRET_ENV, src/writelog/kafka/client.ts). optional: a Secret may hold any subset. */}}
{{- define "vecshift.secretEnv" -}}
{{- $secret := include "vecshift.secretName" . -}}
{{- range list "VECSHIFT_SOURCE_API_KEY" "VECSHIFT_TARGET_API_KEY" "VECSHIFT_SOURCE_PG_PASSWORD" "VECSHIFT_TARGET_PG_PASSWORD" "VECSHIFT_CONTROL_PG_PASSWORD" "VECSHIFT_EMBEDDINGS_API_KEY" "VECSHIFT_GATEWAY_API_KEYS" "VECSHIFT_ADMIN_TOKEN" "VECSHIFT_KAFKA_SASL_MECHANISM" "VECSHIFT_KAFKA_SASL_USERNAME" "VECSHIFT_KAFKA_SASL_PASSWORD" }}
- name: {{ . }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ . }}
      optional: true
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The pod spec fields every pod shares. The argument is a dict: root (the top context)
     and mountsClaim ("true" when the pod mounts the data claim). */}}
{{- define "vecshift.podCommon" -}}
{{- $root := .root -}}
serviceAccountName: {{ include "vecshift.serviceAccountName" $root }}
automountServiceAccountToken: false
securityContext:
  {{- toYaml $root.Values.podSecurityContext | nindent 2 }}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- $pinToClaim := and .mountsClaim (eq $root.Values.persistence.accessMode "ReadWriteOnce") }}
{{- if or $root.Values.affinity $pinToClaim }}
affinity:
  {{- with $root.Values.affinity }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
  {{- if $pinToClaim }}
  # A ReadWriteOnce volume attaches to one node: every pod mounting it goes there. The
  # first such pod matches its own labels, which the scheduler accepts.
  podAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      - topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "vecshift.selectorLabels" $root | nindent 12 }}
            vecshift.io/data-claim: mounted
  {{- end }}
{{- end }}
volumes:
  - name: config
    configMap:
      name: {{ include "vecshift.fullname" $root }}
  - name: data
    {{- if .mountsClaim }}
    persistentVolumeClaim:
      claimName: {{ include "vecshift.claimName" $root }}
    {{- else }}
    emptyDir: {}
    {{- end }}
  # readOnlyRootFilesystem: a writable /tmp for whatever a dependency puts there.
  - name: tmp
    emptyDir: {}
{{- end -}}

{{/* Pod labels; the argument is the same dict as vecshift.podCommon plus component. */}}
{{- define "vecshift.podLabels" -}}
{{ include "vecshift.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- if .mountsClaim }}
vecshift.io/data-claim: mounted
{{- end }}
{{- with .root.Values.podLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "vecshift.volumeMounts" -}}
- name: config
  mountPath: /etc/vecshift
  readOnly: true
- name: data
  mountPath: /var/lib/vecshift
- name: tmp
  mountPath: /tmp
{{- end -}}

{{/* A vecshift Job (copy or replay); the argument is a dict: root, component, args, job
     (its values). */}}
{{- define "vecshift.jobPod" -}}
{{- $root := .root -}}
{{- $ctx := dict "root" $root "mountsClaim" (ternary "true" "" $root.Values.persistence.enabled) "component" .component -}}
metadata:
  labels:
    {{- include "vecshift.podLabels" $ctx | nindent 4 }}
  annotations:
    checksum/config: {{ include "vecshift.configYaml" $root | sha256sum }}
    {{- with $root.Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  restartPolicy: OnFailure
  {{- include "vecshift.podCommon" $ctx | nindent 2 }}
  containers:
    - name: {{ .component }}
      image: {{ include "vecshift.image" $root }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      args:
        {{- toYaml .args | nindent 8 }}
      env:
        {{- include "vecshift.secretEnv" $root | trim | nindent 8 }}
      volumeMounts:
        {{- include "vecshift.volumeMounts" $root | nindent 8 }}
      securityContext:
        {{- toYaml $root.Values.securityContext | nindent 8 }}
      resources:
        {{- toYaml .job.resources | nindent 8 }}
{{- end -}}

{{/* Job name: <fullname>-<component>-<hash of the pod spec>. A Job's pod template is
     immutable; a changed spec becomes a new Job, which Helm swaps for the old one. */}}
{{- define "vecshift.jobName" -}}
{{- $hash := include "vecshift.jobPod" . | sha256sum | trunc 8 -}}
{{- printf "%s-%s" (include "vecshift.fullname" .root) .component | trunc 54 | trimSuffix "-" -}}-{{ $hash }}
{{- end -}}
