"""The AWS processing back end: algorithms as ECS Fargate task definitions, workflows as Step
Functions state machines from the same ASL, jobs as executions followed through their history.
"""
