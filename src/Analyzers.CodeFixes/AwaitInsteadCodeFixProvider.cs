using System.Collections.Immutable;
using System.Composition;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using static Microsoft.CodeAnalysis.CSharp.SyntaxFactory;

namespace PartitionedHosting.Analyzers;

/// <summary>
/// Fixes PH0001 in an async method, lambda or local function: <c>x.Result</c>, <c>x.Wait()</c> and
/// <c>x.GetAwaiter().GetResult()</c> become <c>await x</c>. (<c>Thread.Sleep</c> and <c>WaitAll</c> are left to the
/// author: their async forms change what the code means.)
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(AwaitInsteadCodeFixProvider)), Shared]
public sealed class AwaitInsteadCodeFixProvider : CodeFixProvider
{
    /// <inheritdoc />
    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ["PH0001"];

    /// <inheritdoc />
    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    /// <inheritdoc />
    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        var node = root?.FindNode(context.Span, getInnermostNodeForTie: true);
        if (node is null || Awaited(node) is not { } awaited || !InAsyncFunction(node))
        {
            return;
        }

        context.RegisterCodeFix(
            CodeAction.Create(
                "Await instead",
                _ => Task.FromResult(context.Document.WithSyntaxRoot(root!.ReplaceNode(node, Replacement(node, awaited)))),
                equivalenceKey: nameof(AwaitInsteadCodeFixProvider)),
            context.Diagnostics);
    }

    /// <summary>The task a blocking expression waits for: <c>x</c> of <c>x.Result</c>, <c>x.Wait()</c>, <c>x.GetAwaiter().GetResult()</c>.</summary>
    private static ExpressionSyntax? Awaited(SyntaxNode node) => node switch
    {
        MemberAccessExpressionSyntax { Name.Identifier.ValueText: "Result" } result => result.Expression,
        InvocationExpressionSyntax { ArgumentList.Arguments.Count: 0, Expression: MemberAccessExpressionSyntax { Name.Identifier.ValueText: "Wait" } wait } => wait.Expression,
        InvocationExpressionSyntax
        {
            ArgumentList.Arguments.Count: 0,
            Expression: MemberAccessExpressionSyntax
            {
                Name.Identifier.ValueText: "GetResult",
                Expression: InvocationExpressionSyntax { ArgumentList.Arguments.Count: 0, Expression: MemberAccessExpressionSyntax { Name.Identifier.ValueText: "GetAwaiter" } getAwaiter },
            },
        } => getAwaiter.Expression,
        _ => null,
    };

    private static bool InAsyncFunction(SyntaxNode node)
    {
        foreach (var ancestor in node.Ancestors())
        {
            switch (ancestor)
            {
                // Where C# does not allow await: a lock, a query clause, an unsafe block, an exception filter.
                case LockStatementSyntax or QueryClauseSyntax or SelectOrGroupClauseSyntax or UnsafeStatementSyntax or CatchFilterClauseSyntax:
                    return false;
                case AnonymousFunctionExpressionSyntax function:
                    return function.AsyncKeyword.IsKind(SyntaxKind.AsyncKeyword);
                case LocalFunctionStatementSyntax local:
                    return local.Modifiers.Any(SyntaxKind.AsyncKeyword);
                case MethodDeclarationSyntax method:
                    return method.Modifiers.Any(SyntaxKind.AsyncKeyword);
                case BaseMethodDeclarationSyntax or AccessorDeclarationSyntax:
                    return false;
            }
        }

        return false;
    }

    private static ExpressionSyntax Replacement(SyntaxNode node, ExpressionSyntax awaited)
    {
        ExpressionSyntax replacement = AwaitExpression(awaited.WithoutTrivia());

        // Where an operator or a member access follows, the await needs parentheses: (await x).Length.
        if (node.Parent is not (ExpressionStatementSyntax or ArgumentSyntax or ReturnStatementSyntax or ArrowExpressionClauseSyntax
            or EqualsValueClauseSyntax or ParenthesizedExpressionSyntax or LambdaExpressionSyntax or AssignmentExpressionSyntax
            or YieldStatementSyntax or InterpolationSyntax))
        {
            replacement = ParenthesizedExpression(replacement);
        }

        return replacement.WithTriviaFrom(node);
    }
}
